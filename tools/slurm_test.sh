#!/usr/bin/env bash
# Testing on a Slurm cluster, mmdet's way:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
# As tools/slurm_train.sh: one task per GPU running tools/test.py --launcher
# slurm; GRES= (empty) on CPU-only nodes. All knobs: tools/slurm_srun.sh.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]" >&2
    exit 2
fi
exec "$(dirname "$0")/slurm_srun.sh" "$1" "$2" test.py "$3" "$4" "${@:5}"
