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
        torch.set_rng_state(states['torch'])
        if 'cuda' in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states['cuda'])
