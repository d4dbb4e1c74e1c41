"""Detect with an exported model in ONNX Runtime (no torch) and draw it.

    python -m panet_mmdet.deployment.onnx_infer model.onnx image.png \
        --out vis.png [--score-thr 0.3] [--save-pred preds.json] \
        [--config CONFIG]

(``tools/deployment/onnx_infer.py`` runs this module.) Needs onnxruntime,
numpy and OpenCV only (``pip install --no-deps panet_mmdet`` beside them).

Pre-processing (the config's test resize, normalisation, padding), class
names and palette come from the metadata that tools/deployment/export_onnx.py
stored in the file; ``--config`` only replaces names and palette (and needs
mmengine). Boxes and masks are mapped back to the image's own frame.
``--save-pred`` writes labels, scores, boxes and (where pycocotools is
installed) COCO-RLE masks, the layout of ``tools/infer.py --save-pred``;
``tools/deployment/compare_predictions.py`` compares the two files.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

from . import runtime

# --device -> ONNX Runtime execution providers, in order
PROVIDERS = {
    'cpu': ['CPUExecutionProvider'],
    'cuda': ['CUDAExecutionProvider', 'CPUExecutionProvider'],
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('model', help='.onnx file from export_onnx.py')
    p.add_argument('image', help='image file')
    p.add_argument('--out', required=True, help='output image file')
    p.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='draw detections from this score on')
    p.add_argument(
        '--save-pred',
        metavar='JSON',
        help='also write the detections (image frame) as JSON')
    p.add_argument(
        '--config',
        help='take class names and palette from '
        "this config's dataset metainfo")
    p.add_argument(
        '--threads',
        type=int,
        default=0,
        help='ONNX Runtime intra-op threads (0: its default)')
    p.add_argument(
        '--device',
        choices=PROVIDERS,
        default='cpu',
        help="ONNX Runtime's provider: cuda needs onnxruntime-gpu (it "
        'refuses, not falls back, when CUDA cannot start)')
    return p.parse_args(argv)


def names_from_config(path):
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    meta = cfg.get('metainfo') or cfg.test_dataloader.dataset.get(
        'metainfo', {})
    return list(meta.get('classes', [])), list(meta.get('palette', []))


def encode_masks(masks):
    """COCO RLE per mask, as mmdet's DetInferencer saves them, where
    pycocotools is installed (an empty list otherwise)."""
    try:
        from pycocotools import mask as mask_util
    except ImportError:
        print('note: pycocotools is not installed; --save-pred writes no '
              'masks')
        return []
    import numpy as np
    encoded = []
    for mask in masks:
        rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode()
        encoded.append(rle)
    return encoded


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    for path, what in ((args.model, 'model'), (args.image, 'image')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} not found: {path!r}')
    import cv2
    detector = runtime.OnnxDetector(
        args.model, providers=PROVIDERS[args.device], threads=args.threads)
    classes, palette = detector.meta['classes'], detector.meta['palette']
    if args.config:
        classes, palette = names_from_config(args.config)
    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'cannot read image {args.image!r}')
    result = detector(image)
    canvas = runtime.draw_detections(image, result, classes, palette,
                                     args.score_thr)
    if not cv2.imwrite(args.out, canvas):
        raise OSError(f'cannot write {args.out!r}')
    shown = int((result['scores'] >= args.score_thr).sum())
    print(f'{len(result["scores"])} detections, {shown} drawn (score >= '
          f'{args.score_thr}) -> {args.out}')
    if args.save_pred:
        record = dict(
            labels=result['labels'].tolist(),
            scores=[round(float(s), 6) for s in result['scores']],
            bboxes=[[round(float(v), 3) for v in b] for b in result['bboxes']],
            classes=classes)
        if 'masks' in result:
            record['masks'] = encode_masks(result['masks'])
        with open(args.save_pred, 'w') as f:
            json.dump(record, f)
    return 0


if __name__ == '__main__':
    sys.exit(main())
