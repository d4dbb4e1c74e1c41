r"""Two detector configs: train/inference time, memory, FLOPs.

Builds both models from their configs, feeds them identical synthetic inputs
(random images with random boxes and masks), interleaves the two models'
steps after warm-up, and prints medians, time ratios, memory ratios,
parameters and FLOPs.

    # CPU (small images; the demo configs)
    python tools/benchmark.py model configs/demo/panet_r18_bufpn-gn_demo.py \
        configs/demo/mask-rcnn_r18_fpn-gn_demo.py
    # GPU, COCO sizes, fp32 and AMP
    python tools/benchmark.py model \
        configs/panet/panet_r50_bufpn-gn_1x_coco.py \
        mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py --device cuda \
        --img-size 800 1333 --batch 2 --amp

A training step is forward + backward + optimizer step (SGD, as the COCO
configs); an inference step is ``predict`` on the same batch with the
config's test settings. On GPU, times come from CUDA events after
synchronisation and memory is the peak allocated; on CPU, wall clock and the
bytes autograd saves for backward (training) -- the CPU has no allocator peak
to read.
"""
from panet_mmdet.apis import build_detector
from .common import (add_timing_arguments, device_line, format_table,
                     measure_steps, memory_label, no_grad, peak_memory_bytes,
                     positive_int, set_threads, sync)
from .summary import model_summary

NAME = 'model'


def add_arguments(p):
    p.add_argument('config', help='the model to measure (e.g. PANet)')
    p.add_argument(
        'baseline',
        help='the model to compare with (e.g. the '
        'stock mmdet Mask R-CNN)')
    p.add_argument(
        '--img-size',
        type=positive_int,
        nargs=2,
        default=(256, 256),
        metavar=('H', 'W'))
    p.add_argument('--batch', type=positive_int, default=2)
    p.add_argument(
        '--objects', type=positive_int, default=5, help='objects per image')
    p.add_argument(
        '--amp',
        action='store_true',
        help='also measure with fp16 autocast (CUDA only)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--profile',
        action='store_true',
        help='also print the top ops (torch profiler) of 3 '
        'training steps of each model')
    add_timing_arguments(p, repeats=10, warmup=3)


def num_classes_of(model):
    import torch
    roi_head = getattr(model, 'roi_head', None)
    head = getattr(roi_head, 'bbox_head', None)
    if isinstance(head, (list, torch.nn.ModuleList)):
        head = head[-1]
    return getattr(head, 'num_classes', 80)


def make_batch(args, num_classes):
    import torch
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(args.seed)
    h, w = args.img_size
    return demo_mm_inputs(
        args.batch, [[3, h, w]] * args.batch,
        num_items=[args.objects] * args.batch,
        num_classes=num_classes,
        with_mask=True)


def run(args):
    import torch

    import panet_mmdet  # noqa: F401
    if args.amp and not args.device.startswith('cuda'):
        raise ValueError(
            '--amp needs --device cuda: mmcv 2.1\'s CPU NMS has no '
            'bf16 kernel, so CPU autocast fails for stock Mask '
            'R-CNN and PANet alike')
    set_threads(args.threads)
    dev = args.device
    device_type = dev.split(':')[0]
    models = {
        'config': build_detector(args.config, device=dev),
        'baseline': build_detector(args.baseline, device=dev)
    }
    classes = {num_classes_of(m) for m in models.values()}
    if len(classes) != 1:
        raise ValueError(f'the two configs predict different class counts '
                         f'{classes}; compare models of one dataset')
    packed = make_batch(args, classes.pop())
    optims = {
        k: torch.optim.SGD(m.parameters(), lr=1e-4, momentum=0.9)
        for k, m in models.items()
    }
    modes = [('fp32', None)]
    if args.amp:
        modes.append(('amp', torch.float16))

    def train_step(name, dtype):
        model, opt = models[name], optims[name]

        def run():
            model.train()
            data = model.data_preprocessor(packed, True)
            with torch.autocast(
                    device_type=device_type,
                    dtype=dtype,
                    enabled=dtype is not None):
                losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return run

    def infer_step(name, dtype):
        model = models[name]

        def run():
            model.eval()
            with torch.autocast(
                    device_type=device_type,
                    dtype=dtype,
                    enabled=dtype is not None):
                model(**model.data_preprocessor(packed, False), mode='predict')

        return no_grad(run)

    print(device_line(dev))
    print(
        f'input: batch {args.batch} x {args.img_size[0]}x{args.img_size[1]}, '
        f'{args.objects} objects per image; medians of {args.repeats} '
        f'interleaved steps after {args.warmup} warm-up steps')
    print(f'config:   {args.config}\nbaseline: {args.baseline}')
    columns = {
        'train': 'train ms',
        'infer': 'infer ms',
        'mem': memory_label(dev) + ' (train)'
    }
    tables = {}
    for mode, dtype in modes:
        rows = measure_steps(
            {
                'train': {
                    k: train_step(k, dtype)
                    for k in models
                },
                'infer': {
                    k: infer_step(k, dtype)
                    for k in models
                }
            },
            dev,
            args.repeats,
            args.warmup,
            memory='train')
        print()
        print(
            format_table(
                rows,
                columns,
                ratios=[('config', 'baseline')],
                label=f'[{mode}]'))
        tables[mode] = rows
    if dev.startswith('cuda'):
        inf_mem = {
            k: peak_memory_bytes(infer_step(k, None), dev)
            for k in models
        }
        print(f'\ninference peak MiB: config {inf_mem["config"] / 2**20:.1f}, '
              f'baseline {inf_mem["baseline"] / 2**20:.1f}, ratio '
              f'{inf_mem["config"] / inf_mem["baseline"]:.2f}')
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        activities = [ProfilerActivity.CPU]
        if dev.startswith('cuda'):
            activities.append(ProfilerActivity.CUDA)
        sort = 'self_cuda_time_total' if dev.startswith('cuda') else \
            'self_cpu_time_total'
        for k in models:
            step = train_step(k, None)
            with profile(activities=activities) as prof:
                for _ in range(3):
                    step()
                sync(dev)
            print(f'\n[profile: {k}, 3 training steps, top ops by self time]')
            print(prof.key_averages().table(sort_by=sort, row_limit=8))
    totals = {
        k: model_summary(p, args.img_size)['total']
        for k, p in (('config', args.config), ('baseline', args.baseline))
    }
    print(f'\nparameters, and inference FLOPs of one {args.img_size[0]}x'
          f'{args.img_size[1]} image (RoI heads at test-time box counts; per '
          'part: tools/benchmark.py summary)')
    print(
        format_table(
            {
                k: dict(params=p / 1e6, flops=f / 1e9)
                for k, (p, f) in totals.items()
            }, {
                'params': 'params M',
                'flops': 'GFLOPs'
            },
            ratios=[('config', 'baseline')]))
    if not dev.startswith('cuda'):
        print('note: CPU run, small images and whatever backbone the configs '
              'name; GPU numbers need --device cuda at 800x1333')
    return tables
