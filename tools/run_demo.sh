#!/usr/bin/env bash
# The main job (`make demo`): generate the embedded demo data, train the demo
# config with tools/train.py, evaluate it with tools/test.py (COCO bbox + segm
# AP on the demo val split) and draw predictions with mmdet's visualiser
# (ground truth beside predictions; the busiest val image is copied to
# WORK_DIR/demo_prediction.png).
#
#   bash tools/run_demo.sh [CONFIG]        # after tools/setup_env.sh
#
# Env: WORK_DIR (default work_dirs/demo/<config name>), DATA_DIR, SEED, PY,
# DEMO_CFG_OPTIONS (extra training --cfg-options, space-separated, e.g. for a
# quick check: "train_cfg.max_iters=2"), DEMO_DATA_ARGS (extra arguments of
# tools/make_demo_data.py, e.g. "--num-train 8 --num-val 4"), DEMO_PROCS
# (training processes).
#
# Without CUDA, training runs one process per core (tools/dist_train.sh,
# gloo, one thread each), each on an equal share of the config's batch: the
# same batch and schedule as one process, but mmcv's RoIAlign and NMS, which
# run on one thread, then run on every core (per PANet demo step on 2-core
# machines: 0.34 s against 0.41 s in one process of two threads on a fast
# one, 1.12 s against 1.25 s on a slow one; docs/results.md). DEMO_PROCS=1 trains in one process with OMP_NUM_THREADS
# threads (the default there: all cores).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PY:-.venv/bin/python}
CONFIG=${1:-configs/demo/panet_r18_bufpn-gn_demo.py}
NAME=$(basename "$CONFIG" .py)
WORK_DIR=${WORK_DIR:-work_dirs/demo/$NAME}
DATA_DIR=${DATA_DIR:-data/demo_shapes}
SEED=${SEED:-0}
read -r -a EXTRA_OPTS <<< "${DEMO_CFG_OPTIONS:-}"
read -r -a DATA_ARGS <<< "${DEMO_DATA_ARGS:-}"
source tools/demo_data_options.sh  # -> DEMO_DATA_OPTS
source tools/cpu_malloc_env.sh     # glibc heap kept between steps
CORES=$(nproc 2>/dev/null || echo 2)

# What the run will do, with the schedule read from the config (and any
# DEMO_CFG_OPTIONS), before the minutes of training start.
CFG_OPTS=()
[ ${#EXTRA_OPTS[@]} -gt 0 ] && CFG_OPTS=(--cfg-options "${EXTRA_OPTS[@]}")
read -r ITERS BATCH TIMED CUDA <<< "$("$PY" - "$CONFIG" ${CFG_OPTS[@]+"${CFG_OPTS[@]}"} <<'PYEOF' 2>/dev/null
import argparse
import torch
from mmengine.config import Config, DictAction
p = argparse.ArgumentParser()
p.add_argument('config')
p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
a = p.parse_args()
cfg = Config.fromfile(a.config)
cfg.merge_from_dict(a.cfg_options)
hooks = [h for h in cfg.get('custom_hooks', [])
         if h['type'] == 'ProgressEstimateHook']
timed = (hooks[0].get('skip_iters', 2) + hooks[0].get('timed_iters', 10)
         if hooks else 0)
print(cfg.train_cfg.max_iters, cfg.train_dataloader.batch_size, timed,
      int(torch.cuda.is_available()))
PYEOF
)"
# training processes: one per core on CPU, as many as divide the batch
if [ -z "${DEMO_PROCS:-}" ]; then
    DEMO_PROCS=1
    if [ "${CUDA:-1}" = 0 ] && [ "${BATCH:-0}" -gt 0 ]; then
        for ((p = CORES; p > 1; p--)); do
            if [ $((BATCH % p)) = 0 ]; then DEMO_PROCS=$p; break; fi
        done
    fi
fi
if ! [[ "$DEMO_PROCS" =~ ^[1-9][0-9]*$ ]] || [ $(( ${BATCH:-1} % DEMO_PROCS )) != 0 ]; then
    echo "run_demo.sh: DEMO_PROCS must be a positive number that divides the batch (${BATCH:-?}), got '$DEMO_PROCS'" >&2
    exit 2
fi
if [ "$DEMO_PROCS" -gt 1 ]; then
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( CORES / DEMO_PROCS > 0 ? CORES / DEMO_PROCS : 1 ))}
    HOW="$DEMO_PROCS processes (gloo) of $((BATCH / DEMO_PROCS)) images and OMP_NUM_THREADS=$OMP_NUM_THREADS each"
else
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$CORES}
    HOW="one process, OMP_NUM_THREADS=$OMP_NUM_THREADS"
fi
echo "make demo: $NAME on the embedded demo data, on this machine's CPU ($CORES cores)"
echo "  1/3 write the demo data to $DATA_DIR (seconds)"
echo "  2/3 train $CONFIG from scratch: ${ITERS:-?} iterations of ${BATCH:-?} images -> $WORK_DIR"
echo "      ($HOW)"
if [ "${TIMED:-0}" -gt 0 ] && [ "${ITERS:-0}" -gt "$TIMED" ]; then
    echo "      (after $TIMED iterations a 'progress:' line says how long the rest takes here)"
fi
echo "  3/3 test on the val images (COCO box and mask AP), draw the predictions (about a minute)"
echo

START=$(date +%s)
echo "== 1/3 demo data -> $DATA_DIR"
"$PY" tools/make_demo_data.py --out "$DATA_DIR" --seed 0 ${DATA_ARGS[@]+"${DATA_ARGS[@]}"}

echo "== 2/3 train $CONFIG -> $WORK_DIR"
TRAIN_OPTS=(--work-dir "$WORK_DIR"
    --cfg-options "randomness.seed=$SEED" "${DEMO_DATA_OPTS[@]}"
    "train_cfg.val_begin=100000000" ${EXTRA_OPTS[@]+"${EXTRA_OPTS[@]}"})
if [ "$DEMO_PROCS" -gt 1 ]; then
    # per-process batch: the config's batch shared out (the options above
    # come first, so a batch_size in DEMO_CFG_OPTIONS is the total too)
    PYTHON="$PY" PORT=${PORT:-$((29500 + RANDOM % 1000))} \
        bash tools/dist_train.sh "$CONFIG" "$DEMO_PROCS" "${TRAIN_OPTS[@]}" \
        "train_dataloader.batch_size=$((BATCH / DEMO_PROCS))"
else
    "$PY" tools/train.py "$CONFIG" "${TRAIN_OPTS[@]}"
fi
CKPT=$(cat "$WORK_DIR/last_checkpoint")
TRAINED=$(date +%s)

echo "== 3/3 test $CKPT (COCO bbox + segm on the demo val split, images with predictions)"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR" --show-dir vis \
    --save-metrics "$WORK_DIR/test_metrics.json" \
    --cfg-options "${DEMO_DATA_OPTS[@]}"

VIS=$(ls -td "$WORK_DIR"/*/vis 2>/dev/null | head -n1 || true)
"$PY" tools/analysis/demo_picture.py "$CONFIG" "$CKPT" \
    --ann "$DATA_DIR/annotations/instances_val.json" --img-dir "$DATA_DIR/val" \
    --out "$WORK_DIR/demo_prediction.png"
END=$(date +%s)
echo
echo "demo result ($CONFIG, seed $SEED): data+train $((TRAINED - START)) s, total $((END - START)) s"
"$PY" tools/analysis/compare_results.py "$WORK_DIR"
echo "every val image as tools/test.py drew it (per-class NMS, as COCO AP scores it): $VIS"
echo
echo "picture: $WORK_DIR/demo_prediction.png (ground truth left, predictions with score >= 0.3 after class-agnostic NMS right)"
echo "its numbers (for each val object, the best detection and its class):"
echo "  $PY tools/analysis/class_confusion.py $CONFIG $CKPT \\"
echo "      --ann $DATA_DIR/annotations/instances_val.json --img-dir $DATA_DIR/val --class-agnostic-nms"
