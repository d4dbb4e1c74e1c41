"""Write the embedded demo dataset (COCO format, deterministic from a seed).

Example::

    python tools/make_demo_data.py --out data/demo_shapes --seed 0
    python tools/make_demo_data.py --background photo   # needs scikit-image
"""
import argparse
import collections
import json
import time

from panet_mmdet.demo_data import (BACKGROUNDS, MASK_FORMATS,
                                   generate_shapes_dataset, size_bucket)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='data/demo_shapes', help='output folder')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train', type=int, default=160)
    p.add_argument('--num-val', type=int, default=40)
    p.add_argument(
        '--img-size',
        type=int,
        nargs=2,
        default=(256, 256),
        metavar=('H', 'W'))
    p.add_argument(
        '--objects',
        type=int,
        nargs=2,
        default=(3, 7),
        metavar=('MIN', 'MAX'),
        help='objects per image')
    p.add_argument('--background', choices=BACKGROUNDS, default='synthetic')
    p.add_argument('--mask-format', choices=MASK_FORMATS, default='polygon')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    paths = generate_shapes_dataset(
        args.out,
        num_train=args.num_train,
        num_val=args.num_val,
        seed=args.seed,
        img_size=tuple(args.img_size),
        objects_per_image=tuple(args.objects),
        background=args.background,
        mask_format=args.mask_format)
    for split, path in paths.items():
        with open(path) as f:
            coco = json.load(f)
        sizes = collections.Counter(
            size_bucket(a['area']) for a in coco['annotations'])
        print(f'{split}: {len(coco["images"])} images, '
              f'{len(coco["annotations"])} instances '
              f'(small {sizes["small"]}, medium {sizes["medium"]}, '
              f'large {sizes["large"]}) -> {path}')
    print(f'done in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
