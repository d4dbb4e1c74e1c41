"""Copy the demo's most telling prediction picture: the validation image
with the most objects (ties: the most classes, then the lowest id), as
mmdet's visualiser drew it with ``tools/test.py --show-dir`` (ground truth
on the left, predictions with score >= 0.3 on the right).

    python tools/analysis/demo_picture.py \
        data/demo_shapes/annotations/instances_val.json \
        WORK_DIR/TIMESTAMP/vis --out WORK_DIR/demo_prediction.png
"""
import argparse
import json
import os.path as osp
import shutil
from collections import defaultdict


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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('ann_file', help='COCO instances file of the val split')
    p.add_argument('vis_dir', help='the --show-dir folder of tools/test.py')
    p.add_argument('--out', required=True)
    args = p.parse_args(argv)
    with open(args.ann_file) as f:
        coco = json.load(f)
    image = pick_image(coco)
    src = osp.join(args.vis_dir, osp.basename(image['file_name']))
    if not osp.isfile(src):
        raise FileNotFoundError(f'{src} not found: run tools/test.py with '
                                '--show-dir first')
    shutil.copyfile(src, args.out)
    n = sum(a['image_id'] == image['id'] for a in coco['annotations'])
    print(f'{args.out}: {image["file_name"]} ({n} objects), ground truth '
          'left, predictions right')


if __name__ == '__main__':
    main()
