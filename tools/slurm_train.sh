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
#
# Every start resumes from the newest intact checkpoint in WORK_DIR
# (train.py --resume, added unless given; a first start without one starts
# fresh, or from load_from). On Slurm's stop signals (SIGTERM before a
# preemption or the time limit, SIGUSR1 when asked) the ranks save the
# current iteration and requeue the job, which then resumes by itself:
#   sbatch --requeue --signal=B:USR1@300 -p PARTITION --ntasks=8 \
#       --gres=gpu:8 --cpus-per-task=5 \
#       tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR
# (docs/cluster.md).
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]" >&2
    exit 2
fi
RESUME=(--resume)
for arg in "${@:5}"; do
    case "$arg" in --resume|--resume=*) RESUME=() ;; esac
done
DIR=$(dirname "$0")
if [ ! -f "$DIR/slurm_srun.sh" ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    # sbatch runs a copy of the script from its spool folder: find ours
    DIR=$(dirname "$(scontrol show job "$SLURM_JOB_ID" \
        | sed -n 's/^ *Command=\([^ ]*\).*/\1/p')")
fi
exec "$DIR/slurm_srun.sh" "$1" "$2" train.py "$3" --work-dir="$4" \
    "${RESUME[@]}" "${@:5}"
