"""Speed, memory and FLOPs of BottomUpAugmentedFPN vs mmdet's FPN and PAFPN.

All three necks get the same inputs (ResNet-50 channels 256..2048 at strides
4..32 of an image of --img-size) in one run; timings are interleaved, taken
after warm-up, and reported as medians with ratios against FPN and PAFPN.

    python tools/benchmarks/benchmark_neck.py                      # CPU
    python tools/benchmarks/benchmark_neck.py --device cuda --img-size 800 1333

Memory: on CUDA the peak allocated memory of a forward+backward; on CPU the
bytes of the tensors autograd saves for backward (the activation memory a
training step holds), which is what differs between necks.
"""
import argparse

import torch
from mmdet.models.necks import FPN, PAFPN

from panet_mmdet.models import BottomUpAugmentedFPN
from panet_mmdet.utils.benchmarking import (device_line, format_table,
                                            interleaved_medians, memory_label,
                                            peak_memory_bytes)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--img-size', type=int, nargs=2, default=(512, 512),
                   metavar=('H', 'W'))
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--channels', type=int, default=256)
    p.add_argument('--in-channels', type=int, nargs='+',
                   default=[256, 512, 1024, 2048])
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--gn', action='store_true', help='GroupNorm(32) in all convs')
    return p.parse_args(argv)


def flops(neck, inputs):
    from mmengine.analysis import FlopAnalyzer
    with torch.no_grad():
        return FlopAnalyzer(neck, (tuple(inputs), )).unsupported_ops_warnings(
            False).uncalled_modules_warnings(False).total()


def main(argv=None):
    args = parse_args(argv)
    device = args.device
    h, w = args.img_size
    sizes = []
    for s in (4, 8, 16, 32):
        sizes.append((-(-h // s), -(-w // s)))
    inputs = [torch.randn(args.batch, c, *hw, device=device)
              for c, hw in zip(args.in_channels, sizes)]
    norm = dict(type='GN', num_groups=32) if args.gn else None
    common = dict(in_channels=args.in_channels, out_channels=args.channels,
                  num_outs=5, norm_cfg=norm)
    necks = {
        'FPN': FPN(**common),
        'PAFPN': PAFPN(**common),
        'BottomUpAugmentedFPN': BottomUpAugmentedFPN(**common),
    }
    for n in necks.values():
        n.to(device)

    def fwd(neck):
        with torch.no_grad():
            neck(inputs)

    def fwd_bwd(neck):
        sum(o.float().mean() for o in neck(inputs)).backward()

    t_fwd = interleaved_medians({k: (lambda n=n: fwd(n))
                                 for k, n in necks.items()}, device,
                                args.repeats, args.warmup)
    t_fb = interleaved_medians({k: (lambda n=n: fwd_bwd(n))
                                for k, n in necks.items()}, device,
                               args.repeats, args.warmup)
    print(device_line(device))
    print(f'input: batch {args.batch}, image {h}x{w}, in_channels '
          f'{args.in_channels}, out_channels {args.channels}, '
          f'{"GN" if args.gn else "no norm"}; medians of {args.repeats}')
    rows = {
        name: dict(
            params=sum(p.numel() for p in neck.parameters()) / 1e6,
            gflops=flops(neck, inputs) / 1e9,
            fwd=t_fwd[name] * 1e3,
            fwd_bwd=t_fb[name] * 1e3,
            mem=peak_memory_bytes(lambda: fwd_bwd(neck), device) / 2**20)
        for name, neck in necks.items()
    }
    columns = dict(params='params M', gflops='GFLOPs', fwd='fwd ms',
                   fwd_bwd='fwd+bwd ms', mem=memory_label(device))
    print(format_table(rows, columns, label='neck',
                       ratios=[('BottomUpAugmentedFPN', 'FPN'),
                               ('BottomUpAugmentedFPN', 'PAFPN')]))


if __name__ == '__main__':
    main()
