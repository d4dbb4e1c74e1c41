"""What each config costs, measured in one process: parameters, FLOPs,
training step, inference per image and training activation memory.

    python tools/analysis/ablation_costs.py configs/demo/mask-rcnn_r18_fpn_gn_demo.py \
        configs/demo/ablations/mask-rcnn_r18_bufpn-gn_demo.py ... \
        --data-root data/demo_shapes --checkpoints CKPT1 CKPT2 ... --out costs.json

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
  ``panet_mmdet.utils.benchmarking.model_summary``).
"""
import argparse
import copy
import json
import os.path as osp

import torch

import panet_mmdet  # noqa: F401
from panet_mmdet.utils.benchmarking import (build_detector, device_line,
                                            format_table, interleaved_medians,
                                            model_summary, peak_memory_bytes)
from panet_mmdet.utils.configs import load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('configs', nargs='+', help='the first is the reference')
    p.add_argument('--checkpoints', nargs='*', default=None,
                   help='one trained checkpoint per config, same order')
    p.add_argument('--data-root', default='data/demo_shapes')
    p.add_argument('--train-batches', type=int, default=2)
    p.add_argument('--val-images', type=int, default=8)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--own-batches', action='store_true',
                   help="train each config on its own train loader's "
                   'batches (default: all on the first one\'s)')
    p.add_argument('--out', help='write the measurements as JSON here')
    return p.parse_args(argv)


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


def measure(configs, checkpoints, data_root, train_batches=2, val_images=8,
            repeats=5, warmup=1, own_batches=False):
    """``{config: {params, gflops, train_step_s, infer_ms_per_img,
    train_saved_mib}}``, measured in one process (see the module doc)."""
    from mmdet.utils import register_all_modules
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import load_checkpoint
    from mmengine.logging import MMLogger
    register_all_modules()  # mmdet's datasets and transforms, default scope
    # the current logger: init_weights' per-parameter report stays quiet
    MMLogger.get_instance('ablation_costs', log_level='WARNING')
    ref_cfg = load_config(configs[0])
    train_data = _first(_dataloader(ref_cfg, 'train', data_root),
                        train_batches)
    val_data = _first(_dataloader(ref_cfg, 'test', data_root, batch_size=1),
                      val_images)
    train_fns, infer_fns, results = {}, {}, {}
    for i, config in enumerate(configs):
        cfg = load_config(config)
        torch.manual_seed(0)
        model = build_detector(cfg)
        model.init_weights()
        if checkpoints:
            load_checkpoint(model, checkpoints[i], map_location='cpu',
                            logger='silent')
        elif cfg.model.test_cfg.get('rcnn') is not None:
            model.test_cfg.rcnn.score_thr = 0.0
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        step = {'n': 0}
        batches = (_first(_dataloader(cfg, 'train', data_root), train_batches)
                   if own_batches else train_data)

        def train_fn(model=model, optim=optim, step=step, batches=batches):
            model.train()
            model.train_step(batches[step['n'] % len(batches)], optim)
            step['n'] += 1

        def infer_fn(model=model):
            model.eval()
            with torch.no_grad():
                for data in val_data:
                    model.test_step(data)

        train_fns[config], infer_fns[config] = train_fn, infer_fn
        params, flops = model_summary(config, (256, 256))['total']
        results[config] = dict(params=params, gflops=flops / 1e9,
                               train_batch_size=len(batches[0]['inputs']),
                               checkpoint=checkpoints[i] if checkpoints
                               else None)
    # inference first: the training steps change the weights
    infer = interleaved_medians(infer_fns, 'cpu', repeats, warmup)
    train = interleaved_medians(train_fns, 'cpu', repeats, warmup)
    for config in configs:
        results[config]['train_saved_mib'] = peak_memory_bytes(
            train_fns[config], 'cpu') / 2**20
        results[config].update(
            train_step_s=train[config],
            infer_ms_per_img=infer[config] * 1e3 / len(val_data))
    return results


def main(argv=None):
    args = parse_args(argv)
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
    rows = {names[c]: dict(r, params=r['params'] / 1e6)
            for c, r in results.items()}
    first = names[args.configs[0]]
    print(format_table(
        rows, {'params': 'params M', 'gflops': 'GFLOPs',
               'train_step_s': 'train s/step', 'infer_ms_per_img':
               'infer ms/img', 'train_saved_mib': 'saved MiB (train)'},
        ratios=[(n, first) for n in rows if n != first], label='config'))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(device=device_line('cpu'), repeats=args.repeats,
                           val_images=args.val_images, configs=results),
                      f, indent=1)
        print(f'written: {args.out}')


if __name__ == '__main__':
    main()
