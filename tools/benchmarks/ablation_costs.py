r"""Configs' params, FLOPs, train/infer time, memory.

What each config costs, measured in one process: parameters, FLOPs,
training step, inference per image and training activation memory (the
ablation runner's costs.json).

    python tools/benchmark.py ablation-costs \
        configs/demo/mask-rcnn_r18_fpn-gn_demo.py \
        configs/demo/ablations/mask-rcnn_r18_bufpn-gn_demo.py ... \
        --data-root data/demo_shapes --checkpoints CKPT1 CKPT2 ... \
        --out costs.json

Every model gets the same inputs: ``--train-batches`` real training
batches of the first config's train dataloader (its pipeline and batch
size) and the first ``--val-images`` validation images one at a time. The
models' steps are interleaved after warm-up (``interleaved_medians``), so
machine noise hits all alike, and the table prints each config's ratio to
the first one. With ``--own-batches`` each config trains on batches of its
own train dataloader instead (to compare batch sizes or RoI sampling, not
only models).

- train step: ``model.train_step`` with the config's optimizer wrapper
  (forward, loss, backward, gradient clipping, AdamW step), seconds;
- inference: ``model.test_step`` (preprocessing, RPN, RoI heads, masks at the
  test settings), ms per image. With ``--checkpoints`` (trained weights, e.g.
  the ablation runs' seed 0) the RoI heads see as many detections as they
  would in use; with random weights the score threshold is 0 and they see
  ``test_cfg.rcnn.max_per_img``;
- memory: bytes that autograd saves for backward in one training step
  (activations; on CPU there is no allocator peak to read), MiB;
- parameters and inference FLOPs of one image (mmengine's FlopAnalyzer,
  ``benchmarks.summary.model_summary``).

CPU only; threads: ``--threads``, else OMP_NUM_THREADS.
"""
import copy
import json
import os.path as osp

from panet_mmdet.apis import build_detector
from panet_mmdet.utils.configs import load_config
from .common import (add_timing_arguments, device_line, format_table,
                     measure_steps, no_grad, positive_int, quiet_mmengine_logs,
                     set_threads)
from .summary import model_summary

NAME = 'ablation-costs'


def add_arguments(p):
    p.add_argument('configs', nargs='+', help='the first is the reference')
    p.add_argument(
        '--checkpoints',
        nargs='*',
        default=None,
        help='one trained checkpoint per config, same order')
    p.add_argument('--data-root', default='data/demo_shapes')
    p.add_argument('--train-batches', type=positive_int, default=2)
    p.add_argument('--val-images', type=positive_int, default=8)
    p.add_argument(
        '--own-batches',
        action='store_true',
        help="train each config on its own train loader's "
        'batches (default: all on the first one\'s)')
    p.add_argument('--out', help='write the measurements as JSON here')
    add_timing_arguments(p, repeats=5, warmup=1, device=False)


def _dataloader(cfg, split: str, data_root: str, batch_size=None):
    from mmengine.runner import Runner
    loader = copy.deepcopy(cfg[f'{split}_dataloader'])
    loader.update(num_workers=0, persistent_workers=False)
    if batch_size is not None:
        loader.batch_size = batch_size
    loader.dataset.data_root = data_root.rstrip('/') + '/'
    if split == 'train':
        # a fixed order: every model gets the same batches
        loader.sampler = dict(type='DefaultSampler', shuffle=False)
    return Runner.build_dataloader(loader)


def _first(loader, n):
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == n:
            break
    return batches


def measure(configs,
            checkpoints,
            data_root,
            train_batches=2,
            val_images=8,
            repeats=5,
            warmup=1,
            own_batches=False):
    """``{config: {params, gflops, train_step_s, infer_ms_per_img,
    train_saved_mib}}``, measured in one process (see the module doc)."""
    import torch
    from mmdet.utils import register_all_modules
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import load_checkpoint

    from panet_mmdet.checkpoint import allow_mmengine_checkpoints
    register_all_modules()  # mmdet's datasets and transforms, default scope
    allow_mmengine_checkpoints()  # the runs' checkpoints hold mmengine types
    quiet_mmengine_logs('ablation_costs')
    ref_cfg = load_config(configs[0])
    train_data = _first(
        _dataloader(ref_cfg, 'train', data_root), train_batches)
    val_data = _first(
        _dataloader(ref_cfg, 'test', data_root, batch_size=1), val_images)
    train_fns, infer_fns, results = {}, {}, {}
    for i, config in enumerate(configs):
        cfg = load_config(config)
        torch.manual_seed(0)
        model = build_detector(cfg)
        model.init_weights()
        if checkpoints:
            load_checkpoint(
                model, checkpoints[i], map_location='cpu', logger='silent')
        elif cfg.model.test_cfg.get('rcnn') is not None:
            model.test_cfg.rcnn.score_thr = 0.0
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        step = {'n': 0}
        batches = (
            _first(_dataloader(cfg, 'train', data_root), train_batches)
            if own_batches else train_data)

        def train_fn(model=model, optim=optim, step=step, batches=batches):
            model.train()
            model.train_step(batches[step['n'] % len(batches)], optim)
            step['n'] += 1

        @no_grad
        def infer_fn(model=model):
            model.eval()
            for data in val_data:
                model.test_step(data)

        train_fns[config], infer_fns[config] = train_fn, infer_fn
        params, flops = model_summary(config, (256, 256))['total']
        results[config] = dict(
            params=params,
            gflops=flops / 1e9,
            train_batch_size=len(batches[0]['inputs']),
            checkpoint=checkpoints[i] if checkpoints else None)
    # inference first: the training steps change the weights
    rows = measure_steps({
        'infer': infer_fns,
        'train': train_fns
    },
                         'cpu',
                         repeats,
                         warmup,
                         memory='train')
    for config in configs:
        results[config].update(
            train_saved_mib=rows[config]['mem'],
            train_step_s=rows[config]['train'] / 1e3,
            infer_ms_per_img=rows[config]['infer'] / len(val_data))
    return results


def run(args):
    set_threads(args.threads)
    if args.checkpoints and len(args.checkpoints) != len(args.configs):
        raise ValueError(f'--checkpoints needs one file per config: got '
                         f'{len(args.checkpoints)} for {len(args.configs)}')
    results = measure(args.configs, args.checkpoints, args.data_root,
                      args.train_batches, args.val_images, args.repeats,
                      args.warmup, args.own_batches)
    print(device_line('cpu'))
    print(f'medians of {args.repeats} interleaved repeats after '
          f'{args.warmup} warm-up; train: {args.train_batches} batches of '
          f'the train loader; inference: {args.val_images} val images, '
          f'{"trained" if args.checkpoints else "random (score_thr 0)"} '
          'weights')
    names = {c: osp.basename(c)[:-3] for c in args.configs}
    rows = {
        names[c]: dict(r, params=r['params'] / 1e6)
        for c, r in results.items()
    }
    first = names[args.configs[0]]
    print(
        format_table(
            rows, {
                'params': 'params M',
                'gflops': 'GFLOPs',
                'train_step_s': 'train s/step',
                'infer_ms_per_img': 'infer ms/img',
                'train_saved_mib': 'saved MiB (train)'
            },
            ratios=[(n, first) for n in rows if n != first],
            label='config'))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    device=device_line('cpu'),
                    repeats=args.repeats,
                    val_images=args.val_images,
                    configs=results),
                f,
                indent=1)
        print(f'written: {args.out}')
    return results
