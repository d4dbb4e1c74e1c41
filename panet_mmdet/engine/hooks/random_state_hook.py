"""Save the global random states in checkpoints and restore them on resume.

mmengine restores parameters, optimizer, schedulers, iteration counter and
the sampler position on ``--resume``, but not the global RNGs that a
two-stage detector draws from during training (the RPN and RoI samplers use
``torch``'s generator, mmcv's random transforms ``numpy``'s). Without them a
resumed run diverges from an uninterrupted one from its first iteration.
With this hook in ``custom_hooks``, a run resumed from iteration k repeats
the uninterrupted run exactly on CPU (given deterministic data loading:
``num_workers=0`` or no random transforms in the workers).

In a distributed run only rank 0 writes the checkpoint, but every rank
draws its own random numbers (its RoI samples): before each save (asked of
``AtomicCheckpointHook.saves_this_iter``, or mmengine's schedule for another
checkpoint hook) the ranks' states are gathered, the checkpoint holds one
per rank, and on resume each rank restores its own. Resumed with another
number of ranks, each rank takes rank 0's states and the difference is
logged.

Like ``AtomicCheckpointHook``, it allow-lists mmengine's checkpoint contents
(numpy's random state included) for ``torch.load(weights_only=True)`` when
the run starts, before mmengine resumes.
"""
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS

from ...checkpoint import allow_mmengine_checkpoints
from .atomic_checkpoint_hook import periodic_save_after_iter

_KEY = 'random_states'
_PER_RANK = 'random_states_per_rank'


def _states() -> dict:
    states = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


@HOOKS.register_module()
class RandomStateCheckpointHook(Hook):
    """Store python/numpy/torch(/cuda) RNG states, one set per rank, in
    every checkpoint."""

    # before the checkpoint hook (VERY_LOW) in after_train_iter/epoch: the
    # ranks' states are gathered there, the save comes after
    priority = 'LOW'

    def __init__(self) -> None:
        self._gathered = None  # every rank's states, for the next save
        self._checkpoint_hook = None  # the run's, found in before_train

    def before_run(self, runner) -> None:
        allow_mmengine_checkpoints()  # before Runner.load_or_resume

    def before_train(self, runner) -> None:
        self._checkpoint_hook = next(
            (h for h in runner.hooks if isinstance(h, CheckpointHook)), None)

    def after_train_iter(self, runner, *args, **kwargs) -> None:
        hook = self._checkpoint_hook
        if hook is None or hook.by_epoch:
            return
        if hasattr(hook, 'saves_this_iter'):  # AtomicCheckpointHook
            self._gather(hook.saves_this_iter(runner))
        else:  # mmengine's schedule
            self._gather(periodic_save_after_iter(hook, runner))

    def after_train_epoch(self, runner) -> None:
        hook = self._checkpoint_hook
        if hook is not None and hook.by_epoch:
            self._gather(
                hook.every_n_epochs(runner, hook.interval, hook.save_begin)
                or (hook.save_last and hook.is_last_train_epoch(runner)))

    def _gather(self, saves: bool) -> None:
        """Every rank's states, gathered when a save follows (a collective:
        every rank decides alike)."""
        self._gathered = None
        if saves and get_world_size() > 1:
            self._gathered = all_gather_object(_states())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[_KEY] = _states()
        if self._gathered is not None:
            checkpoint[_PER_RANK] = self._gathered
            self._gathered = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Only on resume: loading weights with load_from must not touch RNGs.
        states = checkpoint.get(_KEY)
        if states is None or not runner._resume:
            return
        per_rank = checkpoint.get(_PER_RANK)
        world, rank = get_world_size(), get_rank()
        if per_rank is not None and len(per_rank) == world:
            states = per_rank[rank]
        elif world > 1 or per_rank is not None:
            runner.logger.warning(
                f'random states of {len(per_rank or [states])} rank(s) in '
                f'the checkpoint, {world} now: every rank restores rank '
                "0's; the run will not repeat an uninterrupted one exactly")
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
