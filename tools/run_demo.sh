#!/usr/bin/env bash
# The main job (`make demo`): generate the embedded demo data, train the demo
# config with tools/train.py, evaluate it with tools/test.py (COCO bbox + segm
# AP on the demo val split) and draw predictions with mmdet's visualiser.
#
#   bash tools/run_demo.sh [CONFIG]        # after tools/setup_env.sh
#
# Env: WORK_DIR (default work_dirs/demo/<config name>), DATA_DIR, SEED.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PY:-.venv/bin/python}
CONFIG=${1:-configs/demo/mask-rcnn_r18_fpn_gn_demo.py}
NAME=$(basename "$CONFIG" .py)
WORK_DIR=${WORK_DIR:-work_dirs/demo/$NAME}
DATA_DIR=${DATA_DIR:-data/demo_shapes}
SEED=${SEED:-0}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc 2>/dev/null || echo 2)}

START=$(date +%s)
echo "== 1/3 demo data -> $DATA_DIR"
"$PY" tools/make_demo_data.py --out "$DATA_DIR" --seed 0

echo "== 2/3 train $CONFIG -> $WORK_DIR"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" \
    --cfg-options "randomness.seed=$SEED" "train_dataloader.dataset.data_root=$DATA_DIR/" \
    "val_dataloader.dataset.data_root=$DATA_DIR/" \
    "test_dataloader.dataset.data_root=$DATA_DIR/" \
    "val_evaluator.ann_file=$DATA_DIR/annotations/instances_val.json" \
    "test_evaluator.ann_file=$DATA_DIR/annotations/instances_val.json" \
    "train_cfg.val_interval=100000"
CKPT=$(cat "$WORK_DIR/last_checkpoint")
TRAINED=$(date +%s)

echo "== 3/3 test $CKPT (COCO bbox + segm on the demo val split, images with predictions)"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR" --show-dir vis \
    --save-metrics "$WORK_DIR/test_metrics.json" \
    --cfg-options "test_dataloader.dataset.data_root=$DATA_DIR/" \
    "test_evaluator.ann_file=$DATA_DIR/annotations/instances_val.json"
END=$(date +%s)

VIS=$(ls -td "$WORK_DIR"/*/vis 2>/dev/null | head -n1 || true)
"$PY" - "$WORK_DIR/test_metrics.json" "$CONFIG" "$VIS" "$((TRAINED - START))" "$((END - START))" <<'PY'
import json, sys
path, config, vis, train_s, total_s = sys.argv[1:]
m = json.load(open(path))
print()
print(f'demo result: {config}')
for kind in ('bbox', 'segm'):
    keys = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l']
    vals = '  '.join(f'{k[4:] or "AP"}={m.get(f"coco/{kind}_{k}", float("nan")):.3f}'
                     .replace('AP=', 'AP=', 1) for k in keys)
    print(f'  {kind:4s} {vals}')
print(f'  metrics: {path}')
print(f'  prediction images: {vis}')
print(f'  wall time: data+train {train_s} s, total {total_s} s')
PY
