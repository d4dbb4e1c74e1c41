"""Save the global random states in checkpoints and restore them on resume.

mmengine restores parameters, optimizer, schedulers, iteration counter and
the sampler position on ``--resume``, but not the global RNGs that a
two-stage detector draws from during training (the RPN and RoI samplers use
``torch``'s generator, mmcv's random transforms ``numpy``'s). Without them a
resumed run diverges from an uninterrupted one from its first iteration.
With this hook in ``custom_hooks``, a run resumed from iteration k repeats
the uninterrupted run exactly on CPU (given deterministic data loading:
``num_workers=0`` or no random transforms in the workers).

Like ``AtomicCheckpointHook``, it allow-lists mmengine's checkpoint contents
(numpy's random state included) for ``torch.load(weights_only=True)`` when
the run starts, before mmengine resumes.
"""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ...checkpoint import allow_mmengine_checkpoints

_KEY = 'random_states'


@HOOKS.register_module()
class RandomStateCheckpointHook(Hook):
    """Store python/numpy/torch(/cuda) RNG states in every checkpoint."""

    priority = 'VERY_LOW'

    def before_run(self, runner) -> None:
        allow_mmengine_checkpoints()  # before Runner.load_or_resume

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        states = dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            states['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint[_KEY] = states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Only on resume: loading weights with load_from must not touch RNGs.
        states = checkpoint.get(_KEY)
        if states is None or not runner._resume:
            return
        random.setstate(states['python'])
        np.random.set_state(states['numpy'])
        # mmengine maps a resumed checkpoint to the run's device: torch
        # wants the states back as CPU byte tensors
        torch.set_rng_state(_cpu_bytes(states['torch']))
        if 'cuda' in states and torch.cuda.is_available():
            set_cuda_states(states['cuda'], runner.logger)


def _cpu_bytes(state) -> torch.Tensor:
    return torch.as_tensor(
        state.cpu() if hasattr(state, 'cpu') else state, dtype=torch.uint8)


def set_cuda_states(states, logger=None) -> None:
    """Restore per-GPU generator states saved by ``get_rng_state_all``
    with another number of visible GPUs: those both runs see are restored
    (a saved state for GPU ``i`` goes to GPU ``i``), the others keep theirs,
    and the difference is logged."""
    count = torch.cuda.device_count()
    for i, state in enumerate(states[:count]):
        torch.cuda.set_rng_state(_cpu_bytes(state), device=i)
    if len(states) != count and logger is not None:
        logger.warning(
            f'random states of {len(states)} GPU(s) in the checkpoint, '
            f'{count} visible now: restored those of GPUs '
            f'0-{min(len(states), count) - 1}')
