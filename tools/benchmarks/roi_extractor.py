r"""AdaptiveFeaturePooling vs Single/GenericRoIExtractor.

Speed and memory of AdaptiveFeaturePoolingRoIExtractor, in one run, vs

- for conv layers, the same extractor with ``implementation='loop'`` (a
  straightforward loop over levels: RoIAlign, that level's layer, then fuse)
  against its default, batched, execution (fc layers always loop),
- mmdet's ``SingleRoIExtractor`` followed by one layer (Mask R-CNN's cost),
- mmdet's ``GenericRoIExtractor`` (every level, a shared pre-layer, sum) with
  the same layer.

For each RoI count and layer type ('conv': 3x3 conv + GN + ReLU on the RoI
grid, as in the mask branch and the heavier box head; 'fc': fc1 of the 2fc
box head) it prints median forward and forward+backward times and memory,
with ratios against SingleRoIExtractor (and, for conv, batched vs loop).

    python tools/benchmark.py roi-extractor                          # CPU
    python tools/benchmark.py roi-extractor --device cuda --channels 256
"""
from .common import (add_timing_arguments, device_line, format_table,
                     forward_backward_steps, measure_steps, memory_label,
                     positive_int, set_threads)

NAME = 'roi-extractor'
STRIDES = [4, 8, 16, 32]
LAYERS = ('conv', 'fc')


def add_arguments(p):
    p.add_argument(
        '--channels',
        type=positive_int,
        default=64,
        help='feature and layer channels (256 in the COCO configs)')
    p.add_argument(
        '--fc-dim',
        type=positive_int,
        default=256,
        help='fc layer width (1024 in the COCO configs)')
    p.add_argument(
        '--rois',
        type=positive_int,
        nargs='+',
        default=[512, 2048],
        help='RoI counts, one table each')
    p.add_argument(
        '--img-size',
        type=positive_int,
        nargs=2,
        default=(800, 1333),
        metavar=('H', 'W'))
    p.add_argument('--batch', type=positive_int, default=2)
    p.add_argument(
        '--layers',
        nargs='+',
        default=list(LAYERS),
        choices=LAYERS,
        help='layer types after the RoIAlign, one table each')
    add_timing_arguments(p, repeats=5, warmup=2)


def make_rois(n, batch, h, w, device):
    import torch
    g = torch.Generator().manual_seed(0)
    # log-uniform sizes: RoIs of every scale, as a detector proposes them
    size = torch.exp(torch.empty(n, 2).uniform_(2.5, 6.3, generator=g))
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w, h])
    x1y1 = (xy - size / 2).clamp(min=0)
    x2y2 = torch.minimum(xy + size / 2, torch.tensor([w - 1., h - 1.]))
    idx = torch.randint(0, batch, (n, 1), generator=g).float()
    return torch.cat([idx, x1y1, x2y2], 1).to(device)


def candidates(layer_type, c, fc_dim):
    import torch.nn as nn
    from mmcv.cnn import ConvModule
    from mmdet.models.roi_heads.roi_extractors import (GenericRoIExtractor,
                                                       SingleRoIExtractor)

    from panet_mmdet.models import AdaptiveFeaturePoolingRoIExtractor

    class Chain(nn.Module):

        def __init__(self, extractor, layer):
            super().__init__()
            self.extractor, self.layer = extractor, layer

        def forward(self, feats, rois):
            return self.layer(self.extractor(feats, rois))

    roi = dict(type='RoIAlign', output_size=7, sampling_ratio=2)
    gn = dict(type='GN', num_groups=min(32, c // 2))
    if layer_type == 'conv':

        def layer():
            return ConvModule(c, c, 3, padding=1, norm_cfg=gn)

        extra = dict(layer_type='conv', layer_channels=c, norm_cfg=gn)
    else:

        def layer():
            return nn.Sequential(
                nn.Flatten(1), nn.Linear(c * 49, fc_dim),
                nn.ReLU(inplace=True))

        extra = dict(layer_type='fc', layer_channels=fc_dim)
    afp = dict(roi_layer=roi, out_channels=c, featmap_strides=STRIDES, **extra)
    single = SingleRoIExtractor(roi, c, STRIDES)
    single_layer = layer()
    generic = GenericRoIExtractor(
        roi_layer=roi,
        out_channels=c,
        featmap_strides=STRIDES,
        aggregation='sum',
        pre_cfg=dict(
            type='ConvModule',
            in_channels=c,
            out_channels=c,
            kernel_size=3,
            padding=1,
            norm_cfg=gn) if layer_type == 'conv' else None)
    generic_layer = nn.Identity() if layer_type == 'conv' else layer()
    afps = {
        'AFP loop':
        AdaptiveFeaturePoolingRoIExtractor(**afp, implementation='loop')
    }
    if layer_type == 'conv':
        afps['AFP batched'] = AdaptiveFeaturePoolingRoIExtractor(
            **afp, implementation='batched')
    return dict(
        afps, **{
            'Single+layer': Chain(single, single_layer),
            'Generic+layer': Chain(generic, generic_layer)
        })


def run(args):
    import torch
    set_threads(args.threads)
    dev = args.device
    h, w = args.img_size
    feats = [
        torch.randn(
            args.batch,
            args.channels,
            -(-h // s),
            -(-w // s),
            device=dev,
            requires_grad=True) for s in STRIDES
    ]
    print(device_line(dev))
    print(f'features: batch {args.batch}, {h}x{w} image, {args.channels} '
          f'channels, strides {STRIDES}; RoIAlign 7x7; fc width '
          f'{args.fc_dim}; medians of {args.repeats}')
    columns = dict(fwd='fwd ms', fwd_bwd='fwd+bwd ms', mem=memory_label(dev))
    tables = {}
    for layer_type in args.layers:
        mods = {
            k: m.to(dev)
            for k, m in candidates(layer_type, args.channels,
                                   args.fc_dim).items()
        }
        for n in args.rois:
            rois = make_rois(n, args.batch, h, w, dev)

            rows = measure_steps(
                forward_backward_steps(
                    mods, lambda m: m(feats, rois),
                    lambda m, out: out.float().square().mean()),
                dev,
                args.repeats,
                args.warmup,
                memory='fwd_bwd')
            afps = [k for k in mods if k.startswith('AFP')]
            ratios = [(k, 'Single+layer') for k in afps]
            if 'AFP batched' in mods:
                ratios.append(('AFP batched', 'AFP loop'))
            print()
            print(
                format_table(
                    rows,
                    columns,
                    ratios=ratios,
                    label=f'[{layer_type} layer, {n} RoIs]'))
            tables[layer_type, n] = rows
    return tables
