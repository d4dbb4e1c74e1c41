"""Is it the boxes or the classes? For each ground-truth object of a COCO
split: was it found (some detection, of any class, with IoU >= --iou), and
does the highest-scoring such detection carry the right class. Prints the
found and right-class counts, the confusion matrix (ground truth x class of
that detection), its mean IoU and the detection scores' median.

    python tools/analysis/class_confusion.py CONFIG CHECKPOINT \
        --ann data/demo_shapes/annotations/instances_val.json \
        --img-dir data/demo_shapes/val

mmdet's detectors keep one box per class after NMS, so a shape the
classifier cannot tell apart shows up as two or three boxes with similar
scores; COCO AP then counts the wrong-class ones as false positives.
It also counts the detections with score >= --score-thr, i.e. what a
picture drawn at that threshold shows; --class-agnostic-nms evaluates the
detections as the demo picture draws them (tools/analysis/demo_picture.py).
"""
import argparse
import json
import math
import os.path as osp
import statistics

import torch
from demo_model import (add_model_and_data_args, check_score_thr, load_model,
                        model_labels, set_class_agnostic_nms)
from mmdet.structures.bbox import bbox_overlaps


def match_objects(gt_boxes,
                  gt_labels,
                  det_boxes,
                  det_scores,
                  det_labels,
                  num_classes,
                  iou_thr=0.5):
    """Match one image's ground truth to its detections.

    Args:
        gt_boxes (Tensor): (G, 4) x1y1x2y2. gt_labels (Tensor): (G,).
        det_boxes (Tensor): (D, 4). det_scores, det_labels (Tensor): (D,).

    Returns:
        tuple: found (int), confusion (Tensor (num_classes, num_classes):
        row = ground-truth class, column = class of the highest-scoring
        detection with IoU >= iou_thr), ious (list of that detection's IoU).
    """
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    if len(gt_boxes) == 0 or len(det_boxes) == 0:
        return 0, confusion, []
    iou = bbox_overlaps(gt_boxes.float(), det_boxes.float())  # (G, D)
    found, ious = 0, []
    for g in range(len(gt_boxes)):
        cand = (iou[g] >= iou_thr).nonzero().flatten()
        if len(cand) == 0:
            continue
        best = cand[det_scores[cand].argmax()]
        found += 1
        confusion[int(gt_labels[g]), int(det_labels[best])] += 1
        ious.append(float(iou[g, best]))
    return found, confusion, ious


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_and_data_args(
        p, 'count the detections a picture drawn at this score shows')
    p.add_argument('--iou', type=float, default=0.5)
    p.add_argument(
        '--class-agnostic-nms',
        action='store_true',
        help='evaluate after class-agnostic NMS, as the demo picture is '
        'drawn (tools/analysis/demo_picture.py)')
    args = p.parse_args(argv)
    check_score_thr(args.score_thr)
    if not 0.0 < args.iou <= 1.0:
        raise ValueError(f'--iou must be in (0, 1], got {args.iou}')

    from mmdet.apis import inference_detector
    model = load_model(args.config, args.checkpoint, args.device)
    if args.class_agnostic_nms:
        set_class_agnostic_nms(model, True)
    classes = list(model.dataset_meta['classes'])
    with open(args.ann) as f:
        coco = json.load(f)
    label_of = model_labels(coco, classes)  # the model's class order
    objects = {}
    for a in coco['annotations']:
        if not a.get('iscrowd', 0):
            x, y, w, h = a['bbox']
            objects.setdefault(a['image_id'], []).append(
                ([x, y, x + w, y + h], label_of[a['category_id']]))
    n = len(classes)
    confusion = torch.zeros(n, n, dtype=torch.long)
    total, found, ious, scores = 0, 0, [], []
    for img in coco['images']:
        path = osp.join(args.img_dir, img['file_name'])
        pred = inference_detector(model, path).pred_instances.cpu()
        scores += pred.scores.tolist()
        gts = objects.get(img['id'], [])
        total += len(gts)
        gt_boxes = torch.tensor([b for b, _ in gts]).reshape(-1, 4)
        gt_labels = torch.tensor([c for _, c in gts], dtype=torch.long)
        f, conf, iou = match_objects(gt_boxes, gt_labels, pred.bboxes,
                                     pred.scores, pred.labels, n, args.iou)
        found, confusion, ious = found + f, confusion + conf, ious + iou
    right = int(confusion.diag().sum())
    print(f'objects {total}, found at IoU >= {args.iou}: {found} '
          f'(mean IoU {statistics.fmean(ious) if ious else math.nan:.3f}); '
          f'highest-scoring match has the right class: {right} '
          f'({right / max(found, 1):.0%}; chance {1 / n:.0%})')
    drawn = sum(s >= args.score_thr for s in scores)
    print(f'detections {len(scores)}, median score '
          f'{statistics.median(scores) if scores else math.nan:.3f}; '
          f'with score >= {args.score_thr}: {drawn} '
          f'({drawn / max(total, 1):.2f} per object, '
          f'{"class-agnostic" if args.class_agnostic_nms else "per-class"}'
          ' NMS)')
    width = max(len(c) for c in classes) + 2
    print('ground truth \\ detected'.ljust(width + 2) +
          ''.join(c.rjust(width) for c in classes))
    for i, c in enumerate(classes):
        print(f'  {c}'.ljust(width + 2) +
              ''.join(str(int(v)).rjust(width) for v in confusion[i]))


if __name__ == '__main__':
    main()
