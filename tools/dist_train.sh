#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG NPROC [train.py args]
# One process per GPU; without CUDA, one process per share of the CPU (gloo).
#
# It heals itself: a rank that dies (or a node's whole group: NNODES > 1)
# makes torchrun restart every worker, up to MAX_RESTARTS times (default 3),
# and each start resumes from the newest intact checkpoint of the work dir
# (train.py --resume, added unless given: a first start without a checkpoint
# starts fresh, or from load_from). A rank that hangs makes the others fail
# after DIST_TIMEOUT seconds (default 600) and torchrun restarts them too.
# Knobs: NNODES, NODE_RANK, MASTER_ADDR, PORT, MAX_RESTARTS, DIST_TIMEOUT,
# RDZV_ID (several nodes: the run's name, the same on every node),
# OMP_NUM_THREADS, PYTHON. docs/reliability.md says what each fault costs.
set -euo pipefail
CONFIG=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MAX_RESTARTS=${MAX_RESTARTS:-3}
export DIST_TIMEOUT=${DIST_TIMEOUT:-600}
DIR=$(cd "$(dirname "$0")" && pwd)
# The project's .venv/ when it exists (make demo / make test create it).
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$DIR/../.venv/bin/python" ]; then PYTHON="$DIR/../.venv/bin/python"; else PYTHON=python; fi
fi
# Keep the processes from oversubscribing the cores on CPU runs.
if [ -z "${OMP_NUM_THREADS:-}" ]; then
    CORES=$(nproc 2>/dev/null || echo 1)
    export OMP_NUM_THREADS=$(( CORES / NPROC > 0 ? CORES / NPROC : 1 ))
fi
RESUME=(--resume)
for arg in "${@:3}"; do
    case "$arg" in --resume|--resume=*) RESUME=() ;; esac
done
if [ "$NNODES" = 1 ]; then
    RDZV=(--node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" --master_port="$PORT")
else
    # Several nodes: torchrun's c10d rendezvous, so that a node that is lost
    # and started again joins a new round (node 0, started first, hosts it
    # and becomes rank 0), with a fresh store for each round's workers (no
    # stale process-group keys from the failed round).
    export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1
    RDZV=(--rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:$PORT" --rdzv-id="${RDZV_ID:-panet_mmdet}")
fi
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" "${RDZV[@]}" --nproc_per_node="$NPROC" \
    --max-restarts="$MAX_RESTARTS" \
    "$DIR/train.py" "$CONFIG" --launcher pytorch "${RESUME[@]}" "${@:3}"
