#!/usr/bin/env bash
# Accuracy evidence: train + test PANet and stock Mask R-CNN demo configs with
# several seeds (same data, same schedule), then mean +- std side by side.
#
#   bash tools/run_seeds.sh [SEEDS...]        # default: 0 1 2 (~70 min on 2 cores)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PY:-.venv/bin/python}
if [ $# -gt 0 ]; then SEEDS=("$@"); else SEEDS=(0 1 2); fi
DIRS=()
for CONFIG in configs/demo/panet_r18_fpn-gn_demo.py configs/demo/mask-rcnn_r18_fpn_gn_demo.py; do
    NAME=$(basename "$CONFIG" .py)
    for SEED in "${SEEDS[@]}"; do
        WORK="work_dirs/seeds/${NAME}_seed${SEED}"
        if [ ! -f "$WORK/test_metrics.json" ]; then
            SEED=$SEED WORK_DIR=$WORK PY=$PY bash tools/run_demo.sh "$CONFIG"
        fi
        DIRS+=("$WORK")
    done
done
"$PY" tools/analysis/compare_results.py "${DIRS[@]}"
