#!/usr/bin/env bash
# The demo ablation ladder (stock Mask R-CNN -> +BPA -> +AFP -> +FF -> +HHD =
# the PANet demo): every rung trained and evaluated for every seed, its
# costs, the table and the plot. The scheduling is
# tools/analysis/run_ablation.py (its docstring lists the env knobs:
# ABLATION_DIR, ABLATION_JOBS, ABLATION_ONLY, ABLATION_SINGLES, DATA_DIR, ...).
#
#   bash tools/run_ablation.sh [SEEDS...]      # default: 0 1 2
#
# PY: the Python (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source tools/cpu_malloc_env.sh  # glibc heap kept between steps
exec "${PY:-.venv/bin/python}" tools/analysis/run_ablation.py "$@"
