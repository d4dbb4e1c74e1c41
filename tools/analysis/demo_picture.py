"""Draw the demo's picture: the validation image with the most objects
(ties: the most classes, then the lowest id), ground truth on the left and
the model's predictions with score >= --score-thr on the right, drawn by
mmdet's ``DetLocalVisualizer`` (as ``tools/test.py --show-dir`` draws).

    python tools/analysis/demo_picture.py CONFIG CHECKPOINT \
        --ann data/demo_shapes/annotations/instances_val.json \
        --img-dir data/demo_shapes/val --out WORK_DIR/demo_prediction.png

The predictions are drawn after class-agnostic NMS (the model's
``test_cfg.rcnn.nms`` with ``class_agnostic=True``): one class per object,
as a person labels a picture. COCO AP is computed with the config's own
per-class NMS, which keeps an object once per class the classifier hesitates
between; ``--per-class-nms`` draws that instead. Both counts of drawn
detections are printed.
"""
import argparse
import json
import os.path as osp
from collections import defaultdict

from demo_model import (add_model_and_data_args, check_score_thr, load_model,
                        model_labels, set_class_agnostic_nms)


def pick_image(coco: dict) -> dict:
    """The image entry with the most annotations, then the most distinct
    categories, then the lowest id."""
    labels = defaultdict(list)
    for ann in coco['annotations']:
        labels[ann['image_id']].append(ann['category_id'])
    if not labels:
        raise ValueError('the annotation file has no objects to show')
    best = min(
        labels, key=lambda i: (-len(labels[i]), -len(set(labels[i])), i))
    return next(img for img in coco['images'] if img['id'] == best)


def ground_truth(coco: dict, image: dict, classes):
    """The image's objects as mmdet ``InstanceData``: bboxes (N, 4) x1y1x2y2,
    labels (N,) in the model's class order (matched by name), masks
    ``BitmapMasks`` (N, H, W)."""
    import numpy as np
    import pycocotools.mask as mask_utils
    import torch
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    label_of = model_labels(coco, classes)
    h, w = image['height'], image['width']
    boxes, labels, masks = [], [], []
    for ann in coco['annotations']:
        if ann['image_id'] != image['id']:
            continue
        x, y, bw, bh = ann['bbox']
        boxes.append([x, y, x + bw, y + bh])
        labels.append(label_of[ann['category_id']])
        seg = ann['segmentation']
        if isinstance(seg, list):  # polygons
            rles = mask_utils.frPyObjects(seg, h, w)
        elif isinstance(seg['counts'], list):  # uncompressed RLE
            rles = [mask_utils.frPyObjects(seg, h, w)]
        else:  # compressed RLE
            rles = [seg]
        masks.append(mask_utils.decode(mask_utils.merge(rles)))
    gt = InstanceData()
    gt.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    gt.labels = torch.tensor(labels, dtype=torch.long)
    gt.masks = BitmapMasks(
        np.stack(masks) if masks else np.zeros((0, h, w), np.uint8), h, w)
    return gt


def rescale_instances(instances, scale: float, shape):
    """Boxes times ``scale``; masks (N, h, w), tensor or ``BitmapMasks``,
    resized to ``shape`` (H, W) by nearest neighbour."""
    import torch
    import torch.nn.functional as F
    from mmdet.structures.mask import BitmapMasks
    out = instances.clone()
    out.bboxes = instances.bboxes * scale
    masks = instances.masks
    if isinstance(masks, BitmapMasks):
        masks = torch.from_numpy(masks.to_ndarray())
    masks = F.interpolate(
        masks[:, None].float(), size=tuple(shape), mode='nearest')[:, 0] > 0
    out.masks = masks
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_and_data_args(p, 'draw the predictions with this score or more')
    p.add_argument('--out', required=True, help='the picture to write')
    p.add_argument(
        '--scale',
        type=float,
        default=2.0,
        help='draw the image this many times its size (readable labels)')
    p.add_argument(
        '--per-class-nms',
        action='store_true',
        help="draw with the config's per-class NMS (as scored by COCO AP)")
    args = p.parse_args(argv)
    if not 0.5 <= args.scale <= 8:
        raise ValueError(f'--scale must be in [0.5, 8], got {args.scale}')
    check_score_thr(args.score_thr)
    with open(args.ann) as f:
        coco = json.load(f)
    image = pick_image(coco)
    path = osp.join(args.img_dir, image['file_name'])
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: --img-dir must hold the '
                                'images of --ann')

    import mmcv
    from mmdet.apis import inference_detector
    from mmdet.visualization import DetLocalVisualizer
    model = load_model(args.config, args.checkpoint, args.device)
    classes = list(model.dataset_meta['classes'])
    drawn = {}
    for agnostic in (False, True):
        set_class_agnostic_nms(model, agnostic)
        sample = inference_detector(model, path)
        drawn[agnostic] = int((sample.pred_instances.scores
                               >= args.score_thr).sum())
        if agnostic != args.per_class_nms:
            shown = sample
    shown = shown.cpu()
    shown.gt_instances = ground_truth(coco, image, classes)
    img = mmcv.imrescale(
        mmcv.imread(path, channel_order='rgb'),
        args.scale,
        interpolation='nearest')
    for key in ('pred_instances', 'gt_instances'):
        setattr(
            shown, key,
            rescale_instances(
                getattr(shown, key), img.shape[0] / image['height'],
                img.shape[:2]))
    visualizer = DetLocalVisualizer(name='demo_picture')
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample(
        osp.basename(path),
        img,
        data_sample=shown,
        draw_gt=True,
        draw_pred=True,
        pred_score_thr=args.score_thr,
        out_file=args.out)
    n = len(shown.gt_instances)
    mode = 'per-class' if args.per_class_nms else 'class-agnostic'
    print(f'{args.out}: {image["file_name"]}, ground truth left ({n} '
          f'objects), predictions with score >= {args.score_thr} right '
          f'({drawn[not args.per_class_nms]}, {mode} NMS; '
          f'{drawn[args.per_class_nms]} with '
          f'{"class-agnostic" if args.per_class_nms else "per-class"} NMS)')


if __name__ == '__main__':
    main()
