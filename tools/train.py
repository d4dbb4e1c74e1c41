"""Train a detector with an MMEngine Runner (mmdet's tools/train.py flags).

Example::

    python tools/train.py configs/demo/mask-rcnn_r18_fpn-gn_demo.py
    tools/dist_train.sh CONFIG 8            # torchrun, GPUs or CPU (gloo)
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import panet_mmdet  # noqa: F401  (registers the modules)
from panet_mmdet.checkpoint import (allow_mmengine_checkpoints, restart_count,
                                    resume_plan)
from panet_mmdet.engine import (TrainingStopped, describe_ranks,
                                exit_without_teardown, kill_frozen_local_ranks,
                                leave_distributed, setup_cpu_distributed)
from panet_mmdet.utils import check_dataset_paths


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual batch size (auto_scale_lr in config)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, from the newest '
        'intact checkpoint in the work dir if there is one (else start as '
        'a fresh run, from load_from if set)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value (e.g. '
        'train_cfg.max_iters=100 "model.neck.type=FPN")')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_cfg(args) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print('AMP training is already enabled in the config.')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.get(
                'auto_scale_lr', {}):
            raise ValueError('--auto-scale-lr needs auto_scale_lr.'
                             'base_batch_size in the config')
        cfg.auto_scale_lr.enable = True

    if args.resume not in (None, 'auto') and not osp.isfile(args.resume):
        raise FileNotFoundError(f'--resume checkpoint not found: '
                                f'{args.resume!r}')
    # --resume: the newest intact checkpoint of the work dir (which
    # AtomicCheckpointHook keeps last_checkpoint naming), else a fresh start
    # from load_from; a restarted run always continues where it stopped
    resume, load_from = resume_plan(cfg.work_dir, args.resume,
                                    cfg.get('load_from'),
                                    restart_count() > 0)
    if resume is not None:
        cfg.resume, cfg.load_from = resume, load_from
    return cfg


def main(argv=None):
    """Train; return True when this process left a process group."""
    args = parse_args(argv)
    # --resume and load_from: mmengine's torch.load(weights_only=True) must
    # accept what its checkpoints hold (torch >= 2.6)
    allow_mmengine_checkpoints()
    cfg = build_cfg(args)
    check_dataset_paths(cfg, loaders=('train_dataloader', 'val_dataloader'))
    if args.launcher in ('pytorch', 'slurm'):
        setup_cpu_distributed(cfg, args.launcher)
    runner = (
        Runner.from_cfg(cfg)
        if 'runner_type' not in cfg else RUNNERS.build(cfg))
    if cfg.get('load_from') and not cfg.get('resume'):
        # fine-tuning loads what fits (mmengine's partial load); say what not
        from panet_mmdet.checkpoint.fit import fit_summary
        runner.logger.info(f'load_from {cfg.load_from}: '
                           f'{fit_summary(runner.model, cfg.load_from)}')
    try:
        runner.train()
    except TrainingStopped as stopped:
        runner.logger.info(str(stopped))
        leave_distributed()
        exit_without_teardown(stopped.code)
    except Exception:
        if runner.world_size > 1:  # a collective failed? name who hung
            runner.logger.error(
                f'rank {runner.rank} failed; the ranks\' progress: '
                f'{describe_ranks(runner.work_dir, runner.world_size)}')
            for r in kill_frozen_local_ranks(runner.work_dir):
                runner.logger.error(
                    f"SIGKILLed rank {r['rank']} (pid {r['pid']}): frozen, "
                    'it cannot answer the SIGTERM of the restart')
        raise
    finally:
        left_group = leave_distributed()
    return left_group


if __name__ == '__main__':
    if main():
        # A distributed rank ends here, past the teardown that can abort it.
        exit_without_teardown(0)
