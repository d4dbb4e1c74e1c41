"""Cost of FullyConnectedFusionMaskHead vs mmdet's FCNMaskHead, in one run.

Both heads with the COCO sizes by default (4 convs of 256, 14x14 RoIs,
deconv to 28x28, 80 classes); the fc path adds conv4_fc, conv5_fc (128) and
one fc of 128*14*14 -> 784 (about 19.7 M parameters). Prints parameters,
median forward+backward time and memory for each RoI count, with ratios.

    python tools/benchmarks/benchmark_mask_head.py
    python tools/benchmarks/benchmark_mask_head.py --device cuda
"""
import argparse

import torch
from mmdet.models.roi_heads.mask_heads import FCNMaskHead

from panet_mmdet.models import FullyConnectedFusionMaskHead
from panet_mmdet.utils.benchmarking import (device_line, format_table,
                                            interleaved_medians, memory_label,
                                            peak_memory_bytes)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--rois', type=int, nargs='+', default=[64, 256])
    p.add_argument('--channels', type=int, default=256)
    p.add_argument('--num-convs', type=int, default=4)
    p.add_argument('--num-classes', type=int, default=80)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    dev = args.device
    common = dict(num_convs=args.num_convs, in_channels=args.channels,
                  conv_out_channels=args.channels,
                  num_classes=args.num_classes)
    heads = {'FCNMaskHead': FCNMaskHead(**common),
             'FullyConnectedFusion': FullyConnectedFusionMaskHead(**common)}
    for h in heads.values():
        h.init_weights()
        h.to(dev)
    params = {k: sum(p.numel() for p in h.parameters()) / 1e6
              for k, h in heads.items()}
    print(device_line(dev))
    print(f'{args.num_convs} convs x {args.channels} channels, 14x14 RoIs -> '
          f'28x28, {args.num_classes} classes; medians of {args.repeats}')
    columns = dict(params='params M', fwd='fwd ms', fwd_bwd='fwd+bwd ms',
                   mem=memory_label(dev))
    for n in args.rois:
        x = torch.randn(n, args.channels, 14, 14, device=dev, requires_grad=True)
        labels = torch.randint(0, args.num_classes, (n, ), device=dev)
        targets = (torch.rand(n, 28, 28, device=dev) > 0.5).float()

        def step(head):
            def run():
                preds = head(x)
                head.loss_mask(preds, targets, labels).backward()
            return run

        def fwd(head):
            def run():
                with torch.no_grad():
                    head(x)
            return run

        t_fb = interleaved_medians({k: step(h) for k, h in heads.items()},
                                   dev, args.repeats, args.warmup)
        t_f = interleaved_medians({k: fwd(h) for k, h in heads.items()},
                                  dev, args.repeats, args.warmup)
        mem = {k: peak_memory_bytes(step(h), dev) for k, h in heads.items()}
        rows = {k: dict(params=params[k], fwd=t_f[k] * 1e3,
                        fwd_bwd=t_fb[k] * 1e3, mem=mem[k] / 2**20)
                for k in heads}
        print()
        print(format_table(rows, columns, label=f'[{n} positive RoIs]',
                           ratios=[('FullyConnectedFusion', 'FCNMaskHead')]))


if __name__ == '__main__':
    main()
