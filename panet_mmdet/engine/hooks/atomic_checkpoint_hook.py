"""Checkpoints that a crash cannot leave half-written or missing, and a
resume that finds the newest intact one.

mmengine's ``CheckpointHook`` (0.10) removes the oldest checkpoint *before*
it saves the new one when ``max_keep_ckpts`` is set and writes the new one
straight to its final name (and so does its best-checkpoint save). A kill or
a full disk during the save leaves a truncated file, possibly no older one,
and a ``last_checkpoint`` naming a file that is not complete: ``--resume``
fails on it.

:class:`AtomicCheckpointHook` changes three things, each through a public
seam of mmengine rather than a copy of its code:

- **every checkpoint write is atomic**: the hook's default ``backend_args``
  name :class:`AtomicLocalBackend`, the local file backend whose ``put``
  writes a hidden temporary file, fsyncs it and renames it into place
  (:func:`panet_mmdet.checkpoint.write_atomically`). mmengine's
  ``save_checkpoint`` writes through it, so periodic and best checkpoints
  are complete files or absent;
- **old checkpoints go after the new one is safe**: mmengine is given
  ``max_keep_ckpts=-1`` and the hook removes the checkpoints beyond
  ``max_keep_ckpts`` (by step in their names) only after the save, and
  never the one ``last_checkpoint`` names;
- **resuming without a path takes the newest intact checkpoint**: before
  mmengine resumes (``before_run``), a ``last_checkpoint`` naming a missing
  or truncated file is rewritten to name the newest intact checkpoint
  (:func:`panet_mmdet.checkpoint.find_resumable_checkpoint`), or removed
  when there is none (training then starts afresh). Every train script gets
  this: ours and mmdet's ``tools/train.py --resume``.

- **a resumed run must fit**: the checkpoint a run resumes from must fit
  the model the config builds (:func:`panet_mmdet.checkpoint.
  check_checkpoint_fits`); a run whose config changed stops with a
  ``CheckpointMismatchError`` naming what differs instead of loading what
  fits;
- **a scheduler's stop signal loses no iteration**: on SIGTERM or SIGUSR1
  (``stop_signals``; what Slurm sends before a preemption or the time
  limit) the ranks agree on an iteration boundary
  (:class:`panet_mmdet.engine.preemption.StopSignal`), the hook saves that
  iteration, puts a Slurm job back in the queue (``requeue``) and raises
  :class:`~panet_mmdet.engine.preemption.TrainingStopped`. Epoch-based
  loops stop without a mid-epoch save (mmengine resumes them only at epoch
  boundaries) and resume from the last epoch checkpoint;
- **which rank hung**: every rank keeps a sign of life and its progress in
  ``WORK_DIR/.ranks/`` (:mod:`panet_mmdet.engine.heartbeat`), which
  ``tools/train.py`` reads back to name the rank that stopped answering
  when a collective times out.

At any moment the work dir holds the previous complete checkpoint or the
new one. mmengine writes ``last_checkpoint`` itself, after the save; a kill
in that write is repaired at the next resume. Leftover temporary files of a
killed write are removed when training starts. Remote backends
(``backend_args`` or a non-local ``out_dir``) keep mmengine's behaviour.

When a run starts (``before_run``) the hook also allow-lists what mmengine
checkpoints contain for ``torch.load(weights_only=True)``
(:func:`panet_mmdet.checkpoint.allow_mmengine_checkpoints`), so that the
config resumes under torch >= 2.6 with any train script.
"""
import glob
import os
import os.path as osp
import re
import signal
from typing import List, Optional, Sequence

from mmengine.dist import barrier, get_rank, is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from ...checkpoint import (allow_mmengine_checkpoints, check_checkpoint_fits,
                           find_resumable_checkpoint, write_atomically)
from ...checkpoint.atomic import TMP_SUFFIX
from ..heartbeat import COMPUTING, LOADING, RankHeartbeat
from ..preemption import (DEFAULT_SIGNALS, StopSignal, TrainingStopped,
                          requeue_slurm_job)

ATOMIC_BACKEND = 'panet_atomic_local'


def periodic_save_after_iter(hook: CheckpointHook, runner) -> bool:
    """Whether mmengine's ``CheckpointHook.after_train_iter`` saves after
    this iteration (its schedule: every ``interval`` from ``save_begin``,
    and the last iteration with ``save_last``)."""
    return not hook.by_epoch and (
        hook.every_n_train_iters(runner, hook.interval, hook.save_begin) or
        (hook.save_last and hook.is_last_train_iter(runner)))


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` and ``put_text``."""

    def put(self, obj: bytes, filepath) -> None:
        write_atomically(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        write_atomically(str(filepath), obj.encode(encoding))


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with crash-safe saves and resume (module docstring).

    Takes every ``CheckpointHook`` argument; file names, ``last_checkpoint``
    and ``max_keep_ckpts`` behave as in mmengine once a save has finished.

    Args:
        stop_signals (Sequence[str]): The signals that stop training after
            a checkpoint of the current iteration: any of 'SIGTERM',
            'SIGUSR1', 'SIGUSR2', 'SIGINT', 'SIGHUP'; ``()`` leaves every
            signal's default. Default: ('SIGTERM', 'SIGUSR1').
        requeue (bool): After a stop signal in a Slurm job, requeue the job
            (``scontrol requeue``; the job must be requeueable). Default:
            True.
    """

    def __init__(self,
                 *args,
                 max_keep_ckpts: int = -1,
                 stop_signals: Sequence[str] = DEFAULT_SIGNALS,
                 requeue: bool = True,
                 **kwargs) -> None:
        out_dir = kwargs.get('out_dir')
        self.local = (
            kwargs.get('backend_args') is None
            and kwargs.get('file_client_args') is None
            and (out_dir is None or '://' not in str(out_dir)))
        if self.local:
            kwargs['backend_args'] = dict(backend=ATOMIC_BACKEND)
            # mmengine would remove the oldest before saving: done here after
            self.keep = max_keep_ckpts
            max_keep_ckpts = -1
        super().__init__(*args, max_keep_ckpts=max_keep_ckpts, **kwargs)
        self._pruned_after = None  # the save old checkpoints were removed for
        self.requeue = requeue
        # installed now, before the DataLoader workers are forked (they
        # inherit the handlers and ignore the signals); armed in training
        self.stop_signal: Optional[StopSignal] = (
            StopSignal(stop_signals) if stop_signals else None)
        self._decided_at = None  # the iteration the ranks last agreed on
        self._stop = None  # the signal they agreed to stop for
        self.heartbeat: Optional[RankHeartbeat] = None

    def before_run(self, runner) -> None:
        super().before_run(runner)
        # before Runner.load_or_resume: our checkpoints must load back, and
        # last_checkpoint must name one that does
        allow_mmengine_checkpoints()
        cfg = getattr(runner, 'cfg', None) or {}  # what it was built with
        if self.local and cfg.get('resume') and cfg.get('load_from') is None:
            if is_main_process():
                self._repair_pointer(runner)
            barrier()  # the other ranks read the pointer after this
        if cfg.get('resume'):
            self._check_resume_fits(runner, cfg)
        if getattr(runner, 'work_dir', None):
            self.heartbeat = RankHeartbeat(runner.work_dir, get_rank())

    @staticmethod
    def _check_resume_fits(runner, cfg) -> None:
        """Refuse to resume from a checkpoint the model does not fit (a run
        whose config changed), before mmengine loads what fits."""
        path = cfg.get('load_from')
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        if path is None and osp.isfile(pointer):
            with open(pointer) as f:
                path = f.read().strip()
        if not path or '://' in path or not osp.isfile(path):
            return  # nothing to resume from (mmengine starts afresh)
        check_checkpoint_fits(
            runner.model,
            path,
            name=f'the checkpoint to resume from ({path})',
            config='this config (has it changed since that checkpoint was '
            'saved? resume with the config that saved it, or train in '
            'another --work-dir)')

    @staticmethod
    def _repair_pointer(runner) -> None:
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        found = find_resumable_checkpoint(runner.work_dir, runner.logger.info)
        named = open(pointer).read().strip() if osp.isfile(pointer) else None
        if found is None and named is not None:
            os.remove(pointer)  # mmengine would fail on it: start afresh
        elif found is not None and found != named:
            write_atomically(pointer, found)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.local and is_main_process():
            for leftover in glob.glob(
                    osp.join(self.out_dir, '.*' + TMP_SUFFIX)):
                os.remove(leftover)
        if self.stop_signal is not None:
            self.stop_signal.armed = True
        if self.heartbeat is not None:
            self.heartbeat.update(runner.iter, LOADING)
            self.heartbeat.start()

    def before_train_iter(self, runner, *args, **kwargs) -> None:
        super().before_train_iter(runner, *args, **kwargs)
        if self.heartbeat is not None:  # the batch is loaded
            self.heartbeat.update(runner.iter, COMPUTING)

    def _agree_on_stop(self, runner) -> None:
        """Sets ``self._stop``: a collective the first time it is called
        after an iteration (every rank calls it at the same point:
        :class:`RandomStateCheckpointHook` before the save, this hook's
        ``after_train_iter`` otherwise)."""
        if self._decided_at != runner.iter:
            self._decided_at = runner.iter
            self._stop = (
                self.stop_signal.agreed()
                if self.stop_signal is not None else None)

    def saves_this_iter(self, runner) -> bool:
        """Whether this iteration ends with a checkpoint: periodic, last,
        or (iteration-based loops) a stop signal the ranks agreed on."""
        self._agree_on_stop(runner)
        return periodic_save_after_iter(
            self, runner) or (self._stop is not None and not self.by_epoch)

    def after_train_iter(self, runner, *args, **kwargs) -> None:
        self._agree_on_stop(runner)  # before the save
        super().after_train_iter(runner, *args, **kwargs)
        step = runner.iter + 1
        if self._stop is not None and not self.by_epoch and (
                self.last_ckpt is None
                or self.last_ckpt != self._path_of(step)):
            runner.logger.info(
                f'Saving checkpoint at {step} iterations (stop signal)')
            self._save_checkpoint(runner)
        self._remove_old(runner)
        if self.heartbeat is not None:
            self.heartbeat.update(step, LOADING)
        if self._stop is not None:
            self._stop_training(runner, step)

    def _path_of(self, step: int) -> str:
        return self.file_backend.join_path(self.out_dir,
                                           self.filename_tmpl.format(step))

    def _stop_training(self, runner, step: int) -> None:
        barrier()  # the checkpoint is complete before anyone leaves
        name = signal.Signals(self._stop).name
        if self.by_epoch:
            runner.logger.warning(
                f'{name}: stopping after iteration {step} without a '
                'checkpoint of it (epoch-based loop: mmengine resumes only '
                'at epoch boundaries); the run resumes from '
                f'{self.last_ckpt or "the start"}. An iteration-based '
                'schedule (IterBasedTrainLoop) loses nothing.')
        else:
            runner.logger.info(f'{name}: stopped after iteration {step}, '
                               f'saved as {self.last_ckpt}')
        if self.requeue and is_main_process():
            requeue_slurm_job(runner.logger.info)
        raise TrainingStopped(self._stop, step, self.last_ckpt or '')

    def after_train_epoch(self, runner) -> None:
        super().after_train_epoch(runner)
        self._remove_old(runner)

    def after_train(self, runner) -> None:
        super().after_train(runner)
        self._remove_old(runner)
        if self.stop_signal is not None:
            self.stop_signal.armed = False
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def stale_checkpoints(self, runner) -> List[str]:
        """The periodic checkpoints beyond the newest ``max_keep_ckpts``, by
        step; never the one ``last_checkpoint`` names."""
        if not self.local or self.keep <= 0 or not is_main_process():
            return []
        head, _, tail = self.filename_tmpl.partition('{}')
        pattern = re.compile(re.escape(head) + r'(\d+)' + re.escape(tail))
        steps = sorted(((int(m.group(1)), name)
                        for name in os.listdir(self.out_dir)
                        for m in [pattern.fullmatch(name)] if m),
                       reverse=True)
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        named = open(pointer).read().strip() if osp.isfile(pointer) else ''
        return [
            osp.join(self.out_dir, name) for _, name in steps[self.keep:]
            if osp.join(self.out_dir, name) != named
        ]

    def _remove_old(self, runner) -> None:
        # mmengine sets last_ckpt at each save: list the folder only then,
        # not after every iteration
        if self.last_ckpt == self._pruned_after:
            return
        self._pruned_after = self.last_ckpt
        for path in self.stale_checkpoints(runner):
            os.remove(path)
