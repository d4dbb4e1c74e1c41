"""Parameters and FLOPs per part, two configs side by side.

    python tools/benchmark.py summary \
        configs/panet/panet_r50_bufpn-gn_1x_coco.py \
        --baseline mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py \
        --shape 800 1333

Counts the whole detector in inference mode (RPN proposals -> RoI heads) on
one random image, with per-part rows for what PANet changes (neck, RoI
extractors, heads). The RoI heads see ``test_cfg.rcnn.max_per_img``
detections (100 in the COCO configs), the worst case at test time.
"""
from typing import Dict, Tuple

import torch

from panet_mmdet.apis import build_detector
from panet_mmdet.utils.configs import load_config
from .common import format_table

NAME = 'summary'

SUMMARY_PARTS = ('backbone', 'neck', 'rpn_head', 'roi_head.bbox_roi_extractor',
                 'roi_head.bbox_head', 'roi_head.mask_roi_extractor',
                 'roi_head.mask_head')


def model_summary(config: str,
                  shape: Tuple[int, int]) -> Dict[str, Tuple[int, int]]:
    """Parameters and inference FLOPs of a detector, per part and in total.

    Counts with mmengine's ``FlopAnalyzer`` on one random ``(1, 3, H, W)``
    image through ``predict`` (RPN proposals -> RoI heads). The score
    threshold is set to 0 so that the mask branch always sees
    ``test_cfg.rcnn.max_per_img`` detections, the worst case at test time.
    RoIAlign and NMS count as 0 FLOPs (the analyzer has no formula for them).

    Returns:
        dict: ``part -> (parameters, FLOPs)`` for each of
        :data:`SUMMARY_PARTS` the model has, and ``'total'``.
    """
    from mmdet.structures import DetDataSample
    from mmengine.analysis import FlopAnalyzer
    cfg = load_config(config)
    if cfg.model.get('test_cfg', {}).get('rcnn') is not None:
        cfg.model.test_cfg.rcnn.score_thr = 0.0
    model = build_detector(cfg).eval()
    h, w = shape
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(h, w),
            ori_shape=(h, w),
            pad_shape=(h, w),
            scale_factor=(1., 1.),
            batch_input_shape=(h, w)))
    torch.manual_seed(0)
    x = torch.rand(1, 3, h, w)

    class Predict(torch.nn.Module):

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            # return every output: the tracer drops ops that feed nothing
            inst = self.m.predict(x, [sample], rescale=False)[0].pred_instances
            return tuple(inst[k] for k in ('bboxes', 'scores', 'masks')
                         if k in inst)

    with torch.no_grad():
        analyzer = FlopAnalyzer(Predict(model), (x, ))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(
            False)
        by_module = analyzer.by_module()
    rows = {}
    for part in SUMMARY_PARTS:
        module = model
        try:
            for attr in part.split('.'):
                module = getattr(module, attr)
        except AttributeError:
            continue
        rows[part] = (sum(p.numel() for p in module.parameters()),
                      by_module.get('m.' + part, 0))
    rows['total'] = (sum(p.numel()
                         for p in model.parameters()), by_module.get('', 0))
    return rows


def add_arguments(p) -> None:
    p.add_argument('config')
    p.add_argument('--baseline', help='a second config to compare with')
    p.add_argument(
        '--shape', type=int, nargs=2, default=(256, 256), metavar=('H', 'W'))


def run(args):
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
