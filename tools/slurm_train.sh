#!/usr/bin/env bash
# Training on a Slurm cluster, mmdet's way:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
# srun starts GPUS tasks (one per GPU, GPUS_PER_NODE per node); each runs
# tools/train.py --launcher slurm, which takes rank, world size and master
# address from srun's environment. On CPU-only nodes set GRES= (empty: no
# GPU request); the tasks then train with the gloo backend, e.g.
#   GRES= GPUS=2 GPUS_PER_NODE=2 CPUS_PER_TASK=1 tools/slurm_train.sh debug demo \
#       configs/demo/panet_r18_bufpn-gn_demo.py work_dirs/slurm_demo
# All knobs: tools/slurm_srun.sh.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]" >&2
    exit 2
fi
exec "$(dirname "$0")/slurm_srun.sh" "$1" "$2" train.py "$3" --work-dir="$4" "${@:5}"
