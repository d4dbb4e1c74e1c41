"""Parameters and FLOPs of configs, side by side (what PANet costs).

    python tools/analysis/model_summary.py configs/panet/panet_r50_fpn-gn_1x_coco.py \
        --baseline mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py --shape 800 1333

Counts the whole detector in inference mode (RPN proposals -> RoI heads) with
mmengine's FlopAnalyzer on one random image; per-module rows for the parts
PANet changes (neck, RoI extractors, heads). The RoI heads' FLOPs depend on
how many boxes reach them: the box branch sees the RPN's test-time proposals,
and the score threshold is set to 0 so that the mask branch always sees
``test_cfg.rcnn.max_per_img`` detections (100 in the COCO configs), the
worst case at test time. RoIAlign and NMS count as 0 FLOPs (the analyzer
has no formula for them).
"""
import argparse

import torch
from mmengine.config import Config

import panet_mmdet  # noqa: F401

PARTS = ('backbone', 'neck', 'rpn_head', 'roi_head.bbox_roi_extractor',
         'roi_head.bbox_head', 'roi_head.mask_roi_extractor',
         'roi_head.mask_head')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--baseline', help='a second config to compare with')
    p.add_argument('--shape', type=int, nargs=2, default=(256, 256),
                   metavar=('H', 'W'))
    return p.parse_args(argv)


def load(config):
    from mmengine.hub import get_config
    return get_config(config) if config.startswith('mmdet::') else \
        Config.fromfile(config)


def summarise(config, shape):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.analysis import FlopAnalyzer
    from mmdet.structures import DetDataSample
    register_all_modules()
    cfg = load(config)
    if cfg.model.get('test_cfg', {}).get('rcnn') is not None:
        cfg.model.test_cfg.rcnn.score_thr = 0.0
    model = MODELS.build(cfg.model).eval()
    h, w = shape
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
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
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_module = analyzer.by_module()
    rows = {}
    for part in PARTS:
        mod = model
        try:
            for attr in part.split('.'):
                mod = getattr(mod, attr)
        except AttributeError:
            continue
        rows[part] = (sum(p.numel() for p in mod.parameters()),
                      by_module.get('m.' + part, 0))
    rows['total'] = (sum(p.numel() for p in model.parameters()),
                     by_module.get('', 0))
    return rows


def main(argv=None):
    args = parse_args(argv)
    configs = [args.config] + ([args.baseline] if args.baseline else [])
    results = [summarise(c, args.shape) for c in configs]
    print(f'input 1x3x{args.shape[0]}x{args.shape[1]}, inference mode')
    for c in configs:
        print(f'  {c}')
    head = f'{"part":30s}' + ''.join(
        f'{"params M":>10s}{"GFLOPs":>9s}' for _ in configs)
    if len(configs) == 2:
        head += f'{"params x":>10s}{"FLOPs x":>9s}'
    print(head)
    for part in list(PARTS) + ['total']:
        vals = [r.get(part, (0, 0)) for r in results]
        line = f'{part:30s}' + ''.join(
            f'{p / 1e6:10.2f}{f / 1e9:9.2f}' for p, f in vals)
        if len(configs) == 2:
            (p0, f0), (p1, f1) = vals
            line += (f'{p0 / p1:10.2f}' if p1 else f'{"-":>10s}')
            line += (f'{f0 / f1:9.2f}' if f1 else f'{"-":>9s}')
        print(line)


if __name__ == '__main__':
    main()
