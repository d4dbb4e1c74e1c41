"""Parameters and FLOPs of configs, side by side (what PANet costs).

    python tools/analysis/model_summary.py \
        configs/panet/panet_r50_bufpn-gn_1x_coco.py \
        --baseline mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py \
        --shape 800 1333

Counts the whole detector in inference mode (RPN proposals -> RoI heads) on
one random image, with per-part rows for what PANet changes (neck, RoI
extractors, heads); how it counts: ``panet_mmdet.utils.benchmarking.
model_summary``. The RoI heads see ``test_cfg.rcnn.max_per_img`` detections
(100 in the COCO configs), the worst case at test time.
"""
import argparse

import panet_mmdet  # noqa: F401
from panet_mmdet.utils.benchmarking import (SUMMARY_PARTS, format_table,
                                            model_summary)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--baseline', help='a second config to compare with')
    p.add_argument(
        '--shape', type=int, nargs=2, default=(256, 256), metavar=('H', 'W'))
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    configs = {'config': args.config}
    if args.baseline:
        configs['baseline'] = args.baseline
    summaries = {k: model_summary(c, args.shape) for k, c in configs.items()}
    print(f'input 1x3x{args.shape[0]}x{args.shape[1]}, inference mode')
    columns = {}
    for k, c in configs.items():
        print(f'  {k}: {c}')
        columns[f'{k} params'] = f'{k} params M'
        columns[f'{k} flops'] = f'{k} GFLOPs'
    if args.baseline:
        columns.update({'params x': 'params x', 'flops x': 'FLOPs x'})
    rows = {}
    for part in list(SUMMARY_PARTS) + ['total']:
        row = {}
        for k, summary in summaries.items():
            params, flops = summary.get(part, (0, 0))
            row[f'{k} params'], row[f'{k} flops'] = params / 1e6, flops / 1e9
        if args.baseline:
            for m in ('params', 'flops'):
                base = row[f'baseline {m}']
                row[f'{m} x'] = row[f'config {m}'] / base if base else None
        rows[part] = row
    print(format_table(rows, columns, label='part'))
    return summaries


if __name__ == '__main__':
    main()
