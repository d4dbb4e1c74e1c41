"""Distributed training on machines without CUDA (gloo, one process per core).

mmengine 0.10.x assumes CUDA in two places of a distributed run, and this
module replaces both:

- ``init_dist`` calls ``torch.cuda.set_device`` unconditionally (for
  ``--launcher slurm`` it even divides by the GPU count):
  :func:`setup_cpu_distributed` initialises a gloo process group itself
  before the Runner is built (``tools/train.py`` and ``tools/test.py`` call
  it for ``--launcher pytorch`` and ``slurm`` when CUDA is unavailable);
- ``Runner.wrap_model`` always passes ``device_ids=[LOCAL_RANK]``, which
  ``DistributedDataParallel`` rejects for a CPU module:
  :class:`DeviceAgnosticDistributedDataParallel` drops it there. Select it
  yourself with ``model_wrapper_cfg = dict(
  type='DeviceAgnosticDistributedDataParallel')``.

Two things it does for every distributed training start, CPU or GPU:

- **the collective timeout** (:func:`collective_timeout_s`) is the config's
  ``env_cfg.dist_cfg.timeout``, else ``DIST_TIMEOUT`` from the environment
  (the launchers set it, 600 s unless told), else torch's default: a rank
  that stops answering makes the others fail within it instead of torch's
  30 minutes;
- **a torchrun restart starts clean**: torchrun's workers share its store
  across restarts, where the keys of the failed attempt's process group
  stay; a restarted rank could read its dead peer's address from them
  (seen here with gloo: ``connectFullMesh failed ... Connection refused``,
  one restart wasted). :func:`init_process_group` prefixes the store with
  the restart count (``TORCHELASTIC_RESTART_COUNT``) when one torchrun
  agent runs all workers (``GROUP_WORLD_SIZE`` 1).
"""
import datetime
import glob
import logging
import os
import subprocess
import sys
import time
from typing import Optional, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

from panet_mmdet.utils import check_choice

_TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
_SLURM_ENV = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID',
              'SLURM_JOB_NODELIST')
_LAUNCHERS = ('pytorch', 'slurm')


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


def _first_slurm_host(node_list: str) -> str:
    """The first host name of a Slurm node list such as ``node[3-5,8]``."""
    try:
        out = subprocess.run(['scontrol', 'show', 'hostnames', node_list],
                             capture_output=True,
                             text=True,
                             check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError(
            f'--launcher slurm: could not expand SLURM_JOB_NODELIST='
            f'{node_list!r} with `scontrol show hostnames` ({e}); set '
            'MASTER_ADDR to the first node\'s address') from e
    hosts = out.stdout.split()
    if not hosts:
        raise RuntimeError(f'`scontrol show hostnames {node_list}` named no '
                           'host; set MASTER_ADDR')
    return hosts[0]


def torchrun_env_from_slurm() -> None:
    """Set torchrun's variables from those ``srun`` gives each task.

    As mmengine's Slurm launcher does: ``RANK`` = ``SLURM_PROCID``,
    ``WORLD_SIZE`` = ``SLURM_NTASKS``, ``LOCAL_RANK`` = ``SLURM_LOCALID``,
    ``MASTER_ADDR`` = the job's first node unless set, ``MASTER_PORT`` =
    29500 unless set.
    """
    missing = [k for k in _SLURM_ENV if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher slurm needs the environment srun gives its tasks; '
            f'missing {missing}. Start with tools/slurm_train.sh or srun.')
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        os.environ['MASTER_ADDR'] = _first_slurm_host(
            os.environ['SLURM_JOB_NODELIST'])


def _nvidia_devices() -> list:
    return glob.glob('/dev/nvidia[0-9]*')


def cuda_unusable_reason() -> Optional[str]:
    """Why torch cannot use this machine's NVIDIA GPUs, or None (no GPU,
    CUDA works, or the GPUs are hidden on purpose with an empty
    ``CUDA_VISIBLE_DEVICES``).

    The common case on clusters: a driver older than the one torch's CUDA
    build needs, where ``torch.cuda.is_available()`` is just False.
    """
    if torch.cuda.is_available() or not _nvidia_devices():
        return None
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    if visible is not None and visible.strip() in ('', '-1'):
        return None
    if torch.version.cuda is None:
        return f'torch {torch.__version__} is a CPU-only build'
    try:
        torch.cuda.init()
    except Exception as e:  # the driver's own words
        return str(e).strip().splitlines()[0]
    return 'torch.cuda.is_available() is False'


def collective_timeout_s(cfg: Config, env=None) -> Optional[float]:
    """The collective timeout in seconds: ``env_cfg.dist_cfg.timeout`` of
    the config, else ``DIST_TIMEOUT``, else None (torch's default).

    Raises:
        ValueError: a value that is not a positive number, naming where it
            came from.
    """
    env = os.environ if env is None else env
    value = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
    where = 'env_cfg.dist_cfg.timeout'
    if value is None and env.get('DIST_TIMEOUT', '').strip():
        value, where = env['DIST_TIMEOUT'].strip(), 'DIST_TIMEOUT'
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.
    if not seconds > 0:
        raise ValueError(f'{where}: a positive number of seconds, got '
                         f'{value!r}')
    return seconds


def init_process_group(backend: str, timeout_s: Optional[float]) -> None:
    """``torch.distributed.init_process_group`` from torchrun's environment
    with a store whose keys belong to this torchrun attempt (module
    docstring) and the collective timeout ``timeout_s`` (None: torch's)."""
    kwargs = {}
    if timeout_s is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout_s)
    store, rank, world_size = next(dist.rendezvous('env://', **kwargs))
    if os.environ.get('GROUP_WORLD_SIZE', '1') == '1':
        # one torchrun agent: every worker sees the same restart count (with
        # several, a replaced agent counts from 0 again)
        attempt = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')
        store = dist.PrefixStore(f'panet_mmdet/attempt_{attempt}', store)
    dist.init_process_group(
        backend, store=store, rank=rank, world_size=world_size, **kwargs)


def setup_cpu_distributed(cfg: Config, launcher: str = 'pytorch') -> bool:
    """Prepare a distributed run (``launcher`` 'pytorch' or 'slurm').

    On CPU-only machines, initialises the default process group with the
    gloo backend from torchrun's environment variables (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``; for Slurm derived from
    ``srun``'s by :func:`torchrun_env_from_slurm`), so that the Runner skips
    its own ``init_dist``, and selects
    :class:`DeviceAgnosticDistributedDataParallel` unless the config names a
    model wrapper itself. With CUDA, mmengine initialises NCCL itself, except
    under torchrun, where this does (``torch.cuda.set_device(LOCAL_RANK)``
    first, as mmengine) with the per-attempt store. Either way the config's
    ``env_cfg.dist_cfg.timeout`` is set to :func:`collective_timeout_s`.

    Returns:
        bool: True when it initialised a CPU process group, False when CUDA
        is available.
    """
    check_choice('launcher', launcher, _LAUNCHERS)
    timeout_s = collective_timeout_s(cfg)
    if timeout_s is not None:
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg',
                                                 {})['timeout'] = timeout_s
    if torch.cuda.is_available():
        if ('TORCHELASTIC_RESTART_COUNT' in os.environ
                and not dist.is_initialized()):
            torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
            init_process_group(
                cfg.get('env_cfg', {}).get('dist_cfg',
                                           {}).get('backend', 'nccl'),
                timeout_s)
        return False
    reason = cuda_unusable_reason()
    if reason is not None:
        raise RuntimeError(
            f'this machine has NVIDIA GPUs, but torch cannot use them '
            f'({reason}); a distributed run would train on the CPU instead. '
            'Install a torch build that matches the driver (or a newer '
            'driver), or, to train on the CPU on purpose, hide the GPUs: '
            'CUDA_VISIBLE_DEVICES= (empty)')
    if launcher == 'slurm':
        torchrun_env_from_slurm()
    missing = [k for k in _TORCHRUN_ENV if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher {launcher} needs the torchrun environment; missing '
            f'{missing}. Start with tools/dist_train.sh or torchrun.')
    if not dist.is_initialized():
        init_process_group('gloo', timeout_s)
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg',
                                             {})['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='DeviceAgnosticDistributedDataParallel')
    return True


def leave_distributed() -> bool:
    """Destroy the default process group, if any, before the process exits.

    Called at the end of ``tools/train.py`` and ``tools/test.py``. No
    collective is made here, so a rank never waits for the others.

    Returns:
        bool: True when a process group was destroyed.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        return True
    return False


def stop_child_processes(timeout: float = 10.) -> int:
    """Shut down this process's DataLoader workers and any other
    ``multiprocessing`` child; returns how many children were stopped.

    ``os._exit`` ends a process without its interpreter's teardown, where
    DataLoader iterators normally stop their workers: a persistent worker
    was then left behind (parent PID 1), blocked at its own exit on a pipe
    nobody reads, holding the run's stdout, so whoever waited for the run's
    output never saw EOF. First each live multi-process DataLoader iterator
    shuts its workers down as it would when freed; children still alive
    after ``timeout`` seconds are terminated, then killed.
    """
    import gc
    import multiprocessing
    try:
        from torch.utils.data.dataloader import \
            _MultiProcessingDataLoaderIter as _Iter
    except ImportError:  # pragma: no cover
        _Iter = ()
    children = multiprocessing.active_children()
    for obj in gc.get_objects():
        if _Iter and isinstance(obj, _Iter):
            try:
                obj._shutdown_workers()
            except Exception:  # a broken iterator: its workers go below
                pass
    end = time.monotonic() + timeout
    for child in multiprocessing.active_children():
        child.join(max(0., end - time.monotonic()))
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(2.)
        if child.is_alive():
            child.kill()
            child.join(2.)
    return len(children)


def exit_without_teardown(code: int = 0) -> None:
    """End the process at once, skipping the interpreter's teardown.

    For a rank that has finished and left its process group
    (:func:`leave_distributed`). ``destroy_process_group`` cannot free the
    group's C++ object while a ``DistributedDataParallel`` wrapper lives, and
    the wrapper is never freed: its reducer holds the group (here, torch
    2.13: a gloo group's reference count stays raised after the wrapper is
    deleted and garbage-collected). The object is then destroyed during the
    interpreter's finalisation, where a gloo rank has been seen to abort
    ('terminate called without an active exception', SIGABRT) after a
    finished and evaluated run, which failed the whole Slurm step. This
    stops the process's children (:func:`stop_child_processes`: DataLoader
    workers, which the skipped teardown would have stopped), flushes the
    standard streams and the logging handlers, then calls ``os._exit(code)``:
    no atexit handler and no finaliser runs after it.

    Args:
        code (int): The exit status. Default: 0.
    """
    stop_child_processes()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
