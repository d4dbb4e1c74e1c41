#!/usr/bin/env bash
# What tools/slurm_train.sh and tools/slurm_test.sh share: srun one task per
# GPU and run a tools/ script with --launcher slurm in each.
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [GRES=gpu:N] [SRUN_ARGS=...] \
#       tools/slurm_srun.sh PARTITION JOB_NAME SCRIPT [script args]
# GPUS: tasks in all; GPUS_PER_NODE: tasks (and GPUs) per node, default
# min(GPUS, 8); GRES: the GPU request, default gpu:GPUS_PER_NODE, empty for
# CPU-only nodes (the tasks then use gloo); OMP_NUM_THREADS defaults to
# CPUS_PER_TASK; DIST_TIMEOUT (seconds, default 600) bounds how long the
# tasks wait for a rank that stopped answering.
#
# Submitted with sbatch (as the batch script, or exec'd by it), it passes
# SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 on to srun, which passes them to the tasks:
# `sbatch --signal=B:USR1@300` (signal the batch shell 5 minutes before the
# time limit) reaches the training ranks, which save the current iteration
# and requeue the job (docs/cluster.md).
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
export DIST_TIMEOUT=${DIST_TIMEOUT:-600}
export PYTHONPATH="$DIR/..:${PYTHONPATH:-}"
# shellcheck disable=SC2086  # SRUN_ARGS holds several words on purpose
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    ${GRES:+--gres="$GRES"} \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$DIR/$SCRIPT" --launcher=slurm "${@:4}" &
SRUN=$!
for sig in INT TERM USR1 USR2; do
    # shellcheck disable=SC2064  # the signal's name, now
    trap "kill -$sig $SRUN 2>/dev/null || true" "$sig"
done
# wait returns early for each trapped signal: wait again until srun ends
set +e
while true; do
    wait "$SRUN"
    rc=$?
    kill -0 "$SRUN" 2>/dev/null || break
done
exit "$rc"
