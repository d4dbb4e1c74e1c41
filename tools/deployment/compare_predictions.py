"""Compare two prediction files of one image, detection by detection.

    python tools/infer.py IMAGE CONFIG CHECKPOINT --out-dir outputs --save-pred
    python tools/deployment/onnx_infer.py model.onnx IMAGE --out vis.png \
        --save-pred onnx_pred.json
    python tools/deployment/compare_predictions.py \
        outputs/preds/IMAGE_NAME.json onnx_pred.json

Both files hold ``labels``, ``scores``, ``bboxes`` and optionally ``masks``
(COCO RLE), as mmdet's ``DetInferencer`` writes them. Every reference
detection scoring >= ``--score-min`` must have a partner with the same label,
box IoU >= 0.99 and |score difference| <= 1e-3 (masks compared when both
files have them); exits 1 otherwise.
"""
import argparse
import json
import sys

import numpy as np

from panet_mmdet.deployment import compare_detections


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('reference', help='e.g. tools/infer.py --save-pred output')
    p.add_argument('test', help='e.g. onnx_infer.py --save-pred output')
    p.add_argument('--score-min', type=float, default=0.05)
    p.add_argument('--min-mask-iou', type=float, default=0.98)
    return p.parse_args(argv)


def load_predictions(path):
    with open(path) as f:
        record = json.load(f)
    result = dict(
        labels=np.asarray(record['labels'], np.int64),
        scores=np.asarray(record['scores'], np.float64),
        bboxes=np.asarray(record['bboxes'], np.float64).reshape(-1, 4))
    if record.get('masks'):
        from pycocotools import mask as mask_util
        result['masks'] = np.stack(
            [mask_util.decode(rle).astype(bool) for rle in record['masks']])
    return result


def main(argv=None):
    args = parse_args(argv)
    reference = load_predictions(args.reference)
    test = load_predictions(args.test)
    if ('masks' in reference) != ('masks' in test):
        print('note: only one file has masks; comparing boxes, scores and '
              'labels')
        reference.pop('masks', None)
        test.pop('masks', None)
    report = compare_detections(reference, test, score_min=args.score_min)
    print(report.summary())
    return 0 if report.ok(min_mask_iou=args.min_mask_iou) else 1


if __name__ == '__main__':
    sys.exit(main())
