"""Distributed training on machines without CUDA (gloo, one process per core).

mmengine 0.10.x assumes CUDA in two places of a distributed run, and this
module replaces both:

- ``init_dist`` calls ``torch.cuda.set_device`` unconditionally:
  :func:`setup_cpu_distributed` initialises a gloo process group itself
  before the Runner is built (``tools/train.py`` and ``tools/test.py`` call
  it for ``--launcher pytorch`` when CUDA is unavailable);
- ``Runner.wrap_model`` always passes ``device_ids=[LOCAL_RANK]``, which
  ``DistributedDataParallel`` rejects for a CPU module:
  :class:`DeviceAgnosticDistributedDataParallel` drops it there. Select it
  yourself with ``model_wrapper_cfg = dict(
  type='DeviceAgnosticDistributedDataParallel')``.
"""
import datetime
import os
from typing import Optional, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

_TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that accepts CPU modules.

    Args:
        module (nn.Module): The model to wrap.
        device_ids (Sequence[int], optional): CUDA devices, as in DDP. Ignored
            (set to None) when the module's parameters are on the CPU.
        **kwargs: Other ``MMDistributedDataParallel`` arguments.
    """

    def __init__(self,
                 module: nn.Module,
                 device_ids: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        param = next(module.parameters(), None)
        if param is None or param.device.type != 'cuda':
            device_ids = None
        kwargs.setdefault('broadcast_buffers', False)
        super().__init__(module=module, device_ids=device_ids, **kwargs)


def setup_cpu_distributed(cfg: Config, timeout_s: int = 1800) -> bool:
    """Prepare a ``launcher='pytorch'`` run for CPU-only machines.

    Initialises the default process group with the gloo backend from
    torchrun's environment variables (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``), so that the Runner skips its own
    ``init_dist``, and selects :class:`DeviceAgnosticDistributedDataParallel`
    unless the config names a model wrapper itself.

    Returns:
        bool: True when it initialised a CPU process group, False when CUDA
        is available (nothing to do: mmengine's own path works there).
    """
    if torch.cuda.is_available():
        return False
    missing = [k for k in _TORCHRUN_ENV if k not in os.environ]
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
