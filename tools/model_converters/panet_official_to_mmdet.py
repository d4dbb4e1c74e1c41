"""Convert a checkpoint released by the PANet authors into an mmdet one.

    python tools/model_converters/panet_official_to_mmdet.py SRC DST \
        [--dataset {coco,cityscapes}] [--config CONFIG] [--trust-pickle]

SRC is a ``.pth`` of GitHub ShuLiu1993/PANet (``tools/train_net_step.py``
``save_ckpt``: ``{'step', ..., 'model': Generalized_RCNN state dict}``). The
released model it holds is recognised from its keys (Mask R-CNN 2x, Faster
R-CNN 1x, Faster R-CNN 2fc 1x), every tensor is mapped
(``panet_mmdet/checkpoint/official.py`` has the tables), the result
is checked to load with ``strict=True`` into the model's config in
``configs/panet/official/`` (or ``--config``), and DST is written in one
step (a temporary file renamed into place). ``--dataset cityscapes`` keeps
the COCO classes that the authors map to Cityscapes' 8, to fine-tune with
``configs/panet/official/panet-official_r50_bufpn-gn_1x_cityscapes.py``.

Exit status 0 on success, 2 with a message naming what is wrong otherwise.
"""
import argparse
import json
import os.path as osp
import sys

from panet_mmdet.checkpoint.official import convert_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a PANet authors\' checkpoint (ShuLiu1993/PANet) '
        'into an mmdet checkpoint for configs/panet/official/.')
    parser.add_argument('src', help="the authors' .pth file")
    parser.add_argument('dst', help='the mmdet checkpoint to write')
    parser.add_argument(
        '--dataset',
        default='coco',
        choices=('coco', 'cityscapes'),
        help='classes to keep (cityscapes: for COCO-pretrained fine-tuning)')
    parser.add_argument(
        '--config',
        help='config to check strict loading against (default: '
        "the detected model's config in configs/panet/official/)")
    parser.add_argument(
        '--trust-pickle',
        action='store_true',
        help='load SRC with torch.load(weights_only=False): only for a file '
        'you trust, if the safe loader refuses it')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.dataset == 'cityscapes' and args.config is None:
        args.config = osp.join(
            ROOT, 'configs/panet/official/'
            'panet-official_r50_bufpn-gn_1x_cityscapes.py')
    try:
        meta = convert_checkpoint(
            args.src,
            args.dst,
            config=args.config,
            dataset=args.dataset,
            trust_pickle=args.trust_pickle,
            root=ROOT)
    except ValueError as e:
        print(f'panet_official_to_mmdet: error: {e}', file=sys.stderr)
        return 2
    shown = {k: v for k, v in meta.items() if k != 'dataset_meta'}
    print(json.dumps(shown, indent=1))
    print(f'wrote {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
