"""Test (evaluate) a checkpoint with an MMEngine Runner (mmdet's flags).

Example::

    python tools/test.py CONFIG CHECKPOINT --show-dir vis
    tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import panet_mmdet  # noqa: F401  (registers the modules)
from panet_mmdet.apis import load_weights
from panet_mmdet.engine import (exit_without_teardown, leave_distributed,
                                setup_cpu_distributed)
from panet_mmdet.utils import check_dataset_paths


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--save-metrics',
        type=str,
        help='also write the evaluation metrics to this JSON file')
    parser.add_argument(
        '--show',
        action='store_true',
        help='show prediction results in a window')
    parser.add_argument(
        '--show-dir',
        help='directory (relative to the timestamped work dir) where images '
        'with predictions drawn are saved')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation (tta_model/tta_pipeline)')
    parser.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='evaluate even if the checkpoint does not fill every tensor of '
        'the model (the rest stays randomly initialised)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg: Config, args) -> Config:
    default_hooks = cfg.default_hooks
    if 'visualization' not in default_hooks:
        raise RuntimeError(
            '--show/--show-dir need default_hooks.visualization '
            "(type='DetVisualizationHook') in the config")
    hook = default_hooks['visualization']
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        hook['test_out_dir'] = args.show_dir
    return cfg


def main(argv=None):
    """Test; return the metrics and whether this process left a process
    group."""
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint!r}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = None  # loaded below, refused when it does not fit

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError('--tta needs tta_model and tta_pipeline in the '
                             'config')
        cfg.model = dict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    check_dataset_paths(cfg, loaders=('test_dataloader', ))
    if args.launcher in ('pytorch', 'slurm'):
        setup_cpu_distributed(cfg, args.launcher)
    runner = (
        Runner.from_cfg(cfg)
        if 'runner_type' not in cfg else RUNNERS.build(cfg))
    load_weights(
        runner.model,
        args.checkpoint,
        strict=not args.allow_partial_checkpoint,
        config=args.config)

    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl/.pickle file, got '
                             f'{args.out!r}')
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))

    try:
        metrics = runner.test()
        if args.save_metrics and is_main_process():
            os.makedirs(
                osp.dirname(osp.abspath(args.save_metrics)), exist_ok=True)
            with open(args.save_metrics, 'w') as f:
                json.dump(
                    {
                        k: float(v) if isinstance(v, (int, float)) else str(v)
                        for k, v in metrics.items()
                    },
                    f,
                    indent=2)
    finally:
        left_group = leave_distributed()
    return metrics, left_group


if __name__ == '__main__':
    if main()[1]:
        # A distributed rank ends here, past the teardown that can abort it.
        exit_without_teardown(0)
