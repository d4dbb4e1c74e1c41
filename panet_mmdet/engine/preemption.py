"""Stopping a training run cleanly when the scheduler says it will stop it.

Slurm sends SIGTERM before it preempts a job or when the job reaches its
time limit (the grace period is the cluster's ``KillWait``, 30 s by default)
and, when asked with ``sbatch --signal=[B:]USR1@N``, SIGUSR1 N seconds
before the limit. :class:`StopSignal` turns those signals into a request
that the training ranks agree on at an iteration boundary
(:meth:`StopSignal.agreed`, one all-reduce of one number per iteration), so
that every rank stops after the same iteration: the checkpoint hook then
saves that iteration (:class:`~panet_mmdet.engine.hooks.AtomicCheckpointHook`)
and raises :class:`TrainingStopped`, and on Slurm :func:`requeue_slurm_job`
puts the job back in the queue, where it resumes from that checkpoint.

The handlers are installed when the hook is built, before the DataLoader
workers are forked: the workers inherit them and ignore the signal (Slurm
signals every process of a job step; the main process stops them). Outside
training (a test run, the model being built) a signal does what it did
before: by default, it ends the process.
"""
import os
import shutil
import signal
import subprocess
import threading
from typing import Callable, Dict, Optional, Sequence

import torch

DEFAULT_SIGNALS = ('SIGTERM', 'SIGUSR1')


class TrainingStopped(SystemExit):
    """Training stopped at an iteration boundary on a signal, after its
    checkpoint was saved. Exit status ``128 + signal number`` (as a shell
    reports a process ended by that signal): a launcher that restarts
    failed workers (torchrun) resumes it; a script sees the run did not
    finish."""

    def __init__(self, signum: int, iteration: int, checkpoint: str):
        super().__init__(128 + signum)
        self.signum, self.iteration = signum, iteration
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        return (f'training stopped on {signal.Signals(self.signum).name} '
                f'after iteration {self.iteration}; resume from '
                f'{self.checkpoint}')


def signal_numbers(names: Sequence[str]) -> Dict[str, int]:
    """``{'SIGTERM': 15, ...}`` for signal names; ValueError naming the
    argument and the allowed names for an unknown one."""
    allowed = ('SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGINT', 'SIGHUP')
    out = {}
    for name in names:
        if name not in allowed:
            raise ValueError(f'stop_signals: each of {allowed}, got '
                             f'{name!r}')
        out[name] = int(getattr(signal, name))
    return out


class StopSignal:
    """Records the first of ``signals`` this process receives while armed.

    Args:
        signals: Signal names (default SIGTERM and SIGUSR1).

    Installing needs the main thread; elsewhere (a runner built in a
    thread) nothing is installed and :attr:`installed` is False.
    """

    def __init__(self, signals: Sequence[str] = DEFAULT_SIGNALS) -> None:
        self.numbers = signal_numbers(signals)
        self.received: Optional[int] = None
        self.armed = False
        self._pid = os.getpid()
        self._previous: Dict[int, Callable] = {}
        self.installed = threading.current_thread() is threading.main_thread()
        if self.installed:
            for num in self.numbers.values():
                previous = signal.signal(num, self._handle)
                # another runner's handler (a notebook, a crashed run that
                # stayed armed) is replaced, not chained: its original is
                # what a signal outside training falls back to
                owner = getattr(previous, '__self__', None)
                if isinstance(owner, StopSignal):
                    previous = owner._previous.get(num, signal.SIG_DFL)
                self._previous[num] = previous

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self._pid:
            return  # a forked DataLoader worker: its main process decides
        if self.armed:
            if self.received is None:
                self.received = signum
            return
        # not training: what the signal did before the handler existed
        previous = self._previous.get(signum, signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def agreed(self) -> Optional[int]:
        """The signal every rank stops for, or None: a collective (all
        ranks call it after the same iteration). The largest signal number
        any rank received wins, so all ranks return the same value."""
        from mmengine.dist import all_reduce, get_world_size
        value = torch.tensor([self.received or 0], dtype=torch.int64)
        if get_world_size() > 1:
            all_reduce(value, op='max')
        return int(value.item()) or None


def requeue_slurm_job(log: Callable[[str], None] = print,
                      env: Optional[dict] = None) -> bool:
    """Put the Slurm job this process belongs to back in the queue
    (``scontrol requeue $SLURM_JOB_ID``); True when Slurm accepted.

    Slurm then ends the running job and starts it again from its batch
    script when a node is free; the launchers pass ``--resume``, so the new
    job continues from the newest checkpoint. Only batch jobs submitted as
    requeueable (``sbatch --requeue``, or ``JobRequeue=1`` in slurm.conf)
    can be requeued; otherwise Slurm's answer is logged with what to do.
    """
    env = os.environ if env is None else env
    job = env.get('SLURM_JOB_ID')
    if not job:
        return False
    if shutil.which('scontrol') is None:
        log('requeue: scontrol is not on PATH; resubmit the job (it '
            'resumes from the checkpoint just saved)')
        return False
    proc = subprocess.run(['scontrol', 'requeue', job],
                          capture_output=True,
                          text=True)
    if proc.returncode != 0:
        log(f'requeue: `scontrol requeue {job}` failed '
            f'({(proc.stderr or proc.stdout).strip()}); submit with '
            '`sbatch --requeue` to have it requeued, or resubmit it (it '
            'resumes from the checkpoint just saved)')
        return False
    log(f'requeue: Slurm job {job} requeued; it resumes from the checkpoint '
        'just saved')
    return True
