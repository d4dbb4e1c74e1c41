"""Speed and memory of AdaptiveFeaturePoolingRoIExtractor, in one run, vs

- the same extractor with ``implementation='loop'`` (a straightforward loop
  over levels: RoIAlign, that level's layer, then fuse),
- mmdet's ``SingleRoIExtractor`` followed by one layer (Mask R-CNN's cost),
- mmdet's ``GenericRoIExtractor`` (every level, a shared pre-layer, sum) with
  the same layer.

For each RoI count and layer type ('conv': 3x3 conv + GN + ReLU on the RoI
grid, as in the mask branch and the heavier box head; 'fc': fc1 of the 2fc
box head) it prints median forward and forward+backward times and memory,
with ratios against the loop and against SingleRoIExtractor.

    python tools/benchmarks/benchmark_roi_extractor.py                 # CPU
    python tools/benchmarks/benchmark_roi_extractor.py --device cuda --channels 256
"""
import argparse

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.roi_heads.roi_extractors import (GenericRoIExtractor,
                                                   SingleRoIExtractor)

from panet_mmdet.models import AdaptiveFeaturePoolingRoIExtractor
from panet_mmdet.utils.benchmarking import (device_line, interleaved_medians,
                                          peak_memory_bytes)

STRIDES = [4, 8, 16, 32]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--channels', type=int, default=64,
                   help='feature and layer channels (256 in the COCO configs)')
    p.add_argument('--fc-dim', type=int, default=256,
                   help='fc layer width (1024 in the COCO configs)')
    p.add_argument('--rois', type=int, nargs='+', default=[512, 2048])
    p.add_argument('--img-size', type=int, nargs=2, default=(800, 1333))
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--layers', nargs='+', default=['conv', 'fc'])
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    return p.parse_args(argv)


def make_rois(n, batch, h, w, device):
    g = torch.Generator().manual_seed(0)
    # log-uniform sizes: RoIs of every scale, as a detector proposes them
    size = torch.exp(torch.empty(n, 2).uniform_(2.5, 6.3, generator=g))
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w, h])
    x1y1 = (xy - size / 2).clamp(min=0)
    x2y2 = torch.minimum(xy + size / 2, torch.tensor([w - 1., h - 1.]))
    idx = torch.randint(0, batch, (n, 1), generator=g).float()
    return torch.cat([idx, x1y1, x2y2], 1).to(device)


def candidates(layer_type, c, fc_dim):
    roi = dict(type='RoIAlign', output_size=7, sampling_ratio=2)
    gn = dict(type='GN', num_groups=min(32, c // 2))
    if layer_type == 'conv':
        def layer():
            return ConvModule(c, c, 3, padding=1, norm_cfg=gn)
        extra = dict(layer_type='conv', layer_channels=c, norm_cfg=gn)
    else:
        def layer():
            return nn.Sequential(nn.Flatten(1), nn.Linear(c * 49, fc_dim),
                                 nn.ReLU(inplace=True))
        extra = dict(layer_type='fc', layer_channels=fc_dim)
    afp = dict(roi_layer=roi, out_channels=c, featmap_strides=STRIDES, **extra)
    single = SingleRoIExtractor(roi, c, STRIDES)
    single_layer = layer()
    generic = GenericRoIExtractor(
        roi_layer=roi, out_channels=c, featmap_strides=STRIDES,
        aggregation='sum',
        pre_cfg=dict(type='ConvModule', in_channels=c, out_channels=c,
                     kernel_size=3, padding=1, norm_cfg=gn)
        if layer_type == 'conv' else None)
    generic_layer = nn.Identity() if layer_type == 'conv' else layer()
    return {
        'AFP batched': AdaptiveFeaturePoolingRoIExtractor(
            **afp, implementation='batched'),
        'AFP loop': AdaptiveFeaturePoolingRoIExtractor(
            **afp, implementation='loop'),
        'Single+layer': _Chain(single, single_layer),
        'Generic+layer': _Chain(generic, generic_layer),
    }


class _Chain(nn.Module):

    def __init__(self, extractor, layer):
        super().__init__()
        self.extractor, self.layer = extractor, layer

    def forward(self, feats, rois):
        return self.layer(self.extractor(feats, rois))


def main(argv=None):
    args = parse_args(argv)
    dev = args.device
    h, w = args.img_size
    feats = [torch.randn(args.batch, args.channels, -(-h // s), -(-w // s),
                         device=dev, requires_grad=True) for s in STRIDES]
    print(device_line(dev))
    print(f'features: batch {args.batch}, {h}x{w} image, {args.channels} '
          f'channels, strides {STRIDES}; RoIAlign 7x7; fc width '
          f'{args.fc_dim}; medians of {args.repeats}')
    mem_name = 'peak MiB' if dev.startswith('cuda') else 'saved MiB'
    for layer_type in args.layers:
        mods = {k: m.to(dev) for k, m in
                candidates(layer_type, args.channels, args.fc_dim).items()}
        for n in args.rois:
            rois = make_rois(n, args.batch, h, w, dev)

            def fwd(m):
                return lambda: m(feats, rois)

            def fwd_bwd(m):
                def run():
                    m(feats, rois).float().square().mean().backward()
                return run

            def no_grad(f):
                def run():
                    with torch.no_grad():
                        f()
                return run

            t_fwd = interleaved_medians(
                {k: no_grad(fwd(m)) for k, m in mods.items()}, dev,
                args.repeats, args.warmup)
            t_fb = interleaved_medians(
                {k: fwd_bwd(m) for k, m in mods.items()}, dev, args.repeats,
                args.warmup)
            mem = {k: peak_memory_bytes(fwd_bwd(m), dev)
                   for k, m in mods.items()}
            print(f'\n[{layer_type} layer, {n} RoIs]')
            print(f'{"extractor":15s} {"fwd ms":>8s} {"fwd+bwd ms":>11s} '
                  f'{mem_name:>10s} {"fwd/loop":>9s} {"f+b/loop":>9s} '
                  f'{"mem/loop":>9s} {"f+b/Single":>11s}')
            for k in mods:
                print(f'{k:15s} {t_fwd[k] * 1e3:8.1f} {t_fb[k] * 1e3:11.1f} '
                      f'{mem[k] / 2**20:10.1f} '
                      f'{t_fwd[k] / t_fwd["AFP loop"]:9.2f} '
                      f'{t_fb[k] / t_fb["AFP loop"]:9.2f} '
                      f'{mem[k] / mem["AFP loop"]:9.2f} '
                      f'{t_fb[k] / t_fb["Single+layer"]:11.2f}')


if __name__ == '__main__':
    main()
