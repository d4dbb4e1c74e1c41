r"""FullyConnectedFusionMaskHead vs mmdet's FCNMaskHead.

Both heads with the COCO sizes by default (4 convs of 256, 14x14 RoIs,
deconv to 28x28, 80 classes); the fc path adds conv4_fc, conv5_fc (128) and
one fc of 128*14*14 -> 784 (about 19.7 M parameters). Prints parameters,
median forward and forward+backward time and memory for each RoI count,
with ratios.

    python tools/benchmark.py mask-head
    python tools/benchmark.py mask-head --device cuda
"""
from .common import (add_timing_arguments, device_line, format_table,
                     forward_backward_steps, measure_steps, memory_label,
                     params_m, positive_int, quiet_mmengine_logs, set_threads)

NAME = 'mask-head'


def add_arguments(p):
    p.add_argument(
        '--rois',
        type=positive_int,
        nargs='+',
        default=[64, 256],
        help='positive RoI counts, one table each')
    p.add_argument('--channels', type=positive_int, default=256)
    p.add_argument('--num-convs', type=positive_int, default=4)
    p.add_argument('--num-classes', type=positive_int, default=80)
    add_timing_arguments(p, repeats=5, warmup=2)


def run(args):
    import torch
    from mmdet.models.roi_heads.mask_heads import FCNMaskHead

    from panet_mmdet.models import FullyConnectedFusionMaskHead
    set_threads(args.threads)
    quiet_mmengine_logs()
    dev = args.device
    common = dict(
        num_convs=args.num_convs,
        in_channels=args.channels,
        conv_out_channels=args.channels,
        num_classes=args.num_classes)
    heads = {
        'FCNMaskHead': FCNMaskHead(**common),
        'FullyConnectedFusion': FullyConnectedFusionMaskHead(**common)
    }
    for h in heads.values():
        h.init_weights()
        h.to(dev)
    print(device_line(dev))
    print(f'{args.num_convs} convs x {args.channels} channels, 14x14 RoIs -> '
          f'28x28, {args.num_classes} classes; medians of {args.repeats}')
    columns = dict(
        params='params M',
        fwd='fwd ms',
        fwd_bwd='fwd+bwd ms',
        mem=memory_label(dev))
    tables = {}
    for n in args.rois:
        x = torch.randn(
            n, args.channels, 14, 14, device=dev, requires_grad=True)
        labels = torch.randint(0, args.num_classes, (n, ), device=dev)
        targets = (torch.rand(n, 28, 28, device=dev) > 0.5).float()

        rows = measure_steps(
            forward_backward_steps(
                heads, lambda head: head(x),
                lambda head, out: head.loss_mask(out, targets, labels)),
            dev,
            args.repeats,
            args.warmup,
            memory='fwd_bwd')
        for k, h in heads.items():
            rows[k]['params'] = params_m(h)
        print()
        print(
            format_table(
                rows,
                columns,
                label=f'[{n} positive RoIs]',
                ratios=[('FullyConnectedFusion', 'FCNMaskHead')]))
        tables[n] = rows
    return tables
