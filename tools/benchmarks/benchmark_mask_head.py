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
from panet_mmdet.utils.benchmarking import (device_line, interleaved_medians,
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
    params = {k: sum(p.numel() for p in h.parameters()) for k, h in heads.items()}
    print(device_line(dev))
    print(f'{args.num_convs} convs x {args.channels} channels, 14x14 RoIs -> '
          f'28x28, {args.num_classes} classes; medians of {args.repeats}')
    print('params M: ' + ', '.join(f'{k} {v / 1e6:.2f}' for k, v in params.items())
          + f'  (x{params["FullyConnectedFusion"] / params["FCNMaskHead"]:.2f})')
    mem_name = 'peak MiB' if dev.startswith('cuda') else 'saved MiB'
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
        print(f'\n[{n} positive RoIs]')
        print(f'{"head":22s} {"fwd ms":>8s} {"fwd+bwd ms":>11s} {mem_name:>10s}')
        for k in heads:
            print(f'{k:22s} {t_f[k] * 1e3:8.1f} {t_fb[k] * 1e3:11.1f} '
                  f'{mem[k] / 2**20:10.1f}')
        a, b = 'FullyConnectedFusion', 'FCNMaskHead'
        print(f'ratio: fwd x{t_f[a] / t_f[b]:.2f}, fwd+bwd x{t_fb[a] / t_fb[b]:.2f}, '
              f'memory x{mem[a] / mem[b]:.2f}')


if __name__ == '__main__':
    main()
