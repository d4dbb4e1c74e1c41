"""Distributed launch on machines without CUDA (gloo, one process per core)."""
import datetime
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, timeout_s: int = 1800) -> bool:
    """Prepare a ``launcher='pytorch'`` run for CPU-only machines.

    mmengine 0.10.x's ``init_dist`` calls ``torch.cuda.set_device``
    unconditionally. When CUDA is unavailable this function instead
    initialises the default process group with the gloo backend from
    torchrun's environment variables (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``) before the Runner is built, so the
    Runner skips its own ``init_dist``, and selects
    :class:`DeviceAgnosticDistributedDataParallel` unless the config names a
    model wrapper itself.

    Returns:
        bool: True when it initialised a CPU process group, False when CUDA
        is available (nothing to do: mmengine's own path works there).
    """
    if torch.cuda.is_available():
        return False
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the torchrun environment; missing '
            f'{missing}. Start with tools/dist_train.sh or torchrun.')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo',
                                timeout=datetime.timedelta(seconds=timeout_s))
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='DeviceAgnosticDistributedDataParallel')
    return True
