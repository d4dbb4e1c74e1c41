r"""BottomUpAugmentedFPN vs mmdet's FPN and PAFPN.

All three necks get the same inputs (ResNet-50 channels 256..2048 at strides
4..32 of an image of --img-size) in one run; timings are interleaved, taken
after warm-up, and reported as medians with ratios against FPN and PAFPN.

    python tools/benchmark.py neck                                  # CPU
    python tools/benchmark.py neck --device cuda --img-size 800 1333

Memory: on CUDA the peak allocated memory of a forward+backward; on CPU the
bytes of the tensors autograd saves for backward (the activation memory a
training step holds), which is what differs between necks.
"""
# yapf: disable
from .common import (add_timing_arguments, device_line, format_table,
                     forward_backward_steps, measure_steps, memory_label,
                     params_m, positive_int, set_threads)

# yapf: enable

NAME = 'neck'


def add_arguments(p):
    p.add_argument(
        '--img-size',
        type=positive_int,
        nargs=2,
        default=(512, 512),
        metavar=('H', 'W'))
    p.add_argument('--batch', type=positive_int, default=1)
    p.add_argument('--channels', type=positive_int, default=256)
    p.add_argument(
        '--in-channels',
        type=positive_int,
        nargs=4,
        default=[256, 512, 1024, 2048],
        metavar='C',
        help='channels of the 4 backbone levels (strides 4..32)')
    p.add_argument(
        '--gn', action='store_true', help='GroupNorm(32) in all convs')
    add_timing_arguments(p, repeats=10, warmup=3)


def flops(neck, inputs):
    import torch
    from mmengine.analysis import FlopAnalyzer
    with torch.no_grad():
        return FlopAnalyzer(neck, (tuple(inputs), )).unsupported_ops_warnings(
            False).uncalled_modules_warnings(False).total()


def run(args):
    import torch
    from mmdet.models.necks import FPN, PAFPN

    from panet_mmdet.models import BottomUpAugmentedFPN
    set_threads(args.threads)
    device = args.device
    h, w = args.img_size
    sizes = [(-(-h // s), -(-w // s)) for s in (4, 8, 16, 32)]
    inputs = [
        torch.randn(args.batch, c, *hw, device=device)
        for c, hw in zip(args.in_channels, sizes)
    ]
    norm = dict(type='GN', num_groups=32) if args.gn else None
    common = dict(
        in_channels=args.in_channels,
        out_channels=args.channels,
        num_outs=5,
        norm_cfg=norm)
    necks = {
        'FPN': FPN(**common),
        'PAFPN': PAFPN(**common),
        'BottomUpAugmentedFPN': BottomUpAugmentedFPN(**common),
    }
    for n in necks.values():
        n.to(device)

    rows = measure_steps(
        forward_backward_steps(
            necks, lambda neck: neck(inputs),
            lambda neck, outs: sum(o.float().mean() for o in outs)),
        device,
        args.repeats,
        args.warmup,
        memory='fwd_bwd')
    for name, neck in necks.items():
        rows[name].update(
            params=params_m(neck), gflops=flops(neck, inputs) / 1e9)
    print(device_line(device))
    print(f'input: batch {args.batch}, image {h}x{w}, in_channels '
          f'{args.in_channels}, out_channels {args.channels}, '
          f'{"GN" if args.gn else "no norm"}; medians of {args.repeats}')
    columns = dict(
        params='params M',
        gflops='GFLOPs',
        fwd='fwd ms',
        fwd_bwd='fwd+bwd ms',
        mem=memory_label(device))
    print(
        format_table(
            rows,
            columns,
            label='neck',
            ratios=[('BottomUpAugmentedFPN', 'FPN'),
                    ('BottomUpAugmentedFPN', 'PAFPN')]))
    return rows
