#!/usr/bin/env bash
# What tools/slurm_train.sh and tools/slurm_test.sh share: srun one task per
# GPU and run a tools/ script with --launcher slurm in each.
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [GRES=gpu:N] [SRUN_ARGS=...] \
#       tools/slurm_srun.sh PARTITION JOB_NAME SCRIPT [script args]
# GPUS: tasks in all; GPUS_PER_NODE: tasks (and GPUs) per node, default
# min(GPUS, 8); GRES: the GPU request, default gpu:GPUS_PER_NODE, empty for
# CPU-only nodes (the tasks then use gloo); OMP_NUM_THREADS defaults to
# CPUS_PER_TASK.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
GRES=${GRES-gpu:$GPUS_PER_NODE}
SRUN_ARGS=${SRUN_ARGS:-}
DIR=$(cd "$(dirname "$0")" && pwd)
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$DIR/../.venv/bin/python" ]; then PYTHON="$DIR/../.venv/bin/python"; else PYTHON=python; fi
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$CPUS_PER_TASK}
export PYTHONPATH="$DIR/..:${PYTHONPATH:-}"
# shellcheck disable=SC2086  # SRUN_ARGS holds several words on purpose
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    ${GRES:+--gres="$GRES"} \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$DIR/$SCRIPT" --launcher=slurm "${@:4}"
