"""Which rank stopped answering: each rank's sign of life and progress.

A rank that hangs (a stopped process, a stuck data loader, a dead file
system) makes the others wait in their next collective until its timeout
(``DIST_TIMEOUT``); the error they then raise names no rank.
:class:`RankHeartbeat` (started by
:class:`~panet_mmdet.engine.hooks.AtomicCheckpointHook`) keeps, in every
training rank, a thread that writes once a second to
``WORK_DIR/.ranks/rank<N>`` what the training loop last told it (the
iterations finished, and whether it is loading the next batch or computing
the iteration) with the time. :func:`describe_ranks` reads the files back
when a collective fails (``tools/train.py`` logs it) and names

- the ranks without a sign of life: a stopped or frozen process writes
  nothing (the others' threads go on writing while they wait), and
- the ranks behind the others: alive, but still loading the batch that the
  others already compute with (a stuck data loader or file system).

:func:`kill_frozen_local_ranks` then ends the silent ranks on the failing
rank's own host: a frozen process does not answer the SIGTERM with which
torchrun stops the group before a restart, and torchrun waits 30 s for it
(fixed in ``torch.distributed.elastic``'s restart path) before its SIGKILL.

The work dir is shared by all nodes in a run that can resume, so the files
of every node are there.
"""
import glob
import json
import os
import os.path as osp
import signal
import socket
import threading
import time
from typing import List, Optional

FOLDER = '.ranks'
LOADING, COMPUTING = 'loading the batch of', 'computing'


class RankHeartbeat:
    """Writes this rank's progress to ``work_dir/.ranks/rank<rank>`` from a
    daemon thread, every ``every_s`` seconds.

    Args:
        work_dir: The run's work dir (shared by the ranks).
        rank: This process's global rank.
        every_s: Seconds between two writes. Default: 1.
    """

    def __init__(self, work_dir: str, rank: int, every_s: float = 1.):
        self.path = osp.join(work_dir, FOLDER, f'rank{rank}')
        self.rank, self.every_s = rank, every_s
        self.started = process_start(os.getpid())
        self.done, self.phase = 0, 'starting'
        self._stop = threading.Event()
        self._thread = None
        os.makedirs(osp.dirname(self.path), exist_ok=True)

    def update(self, done: int, phase: str) -> None:
        """What the loop is doing: ``done`` iterations finished, ``phase``
        :data:`LOADING` or :data:`COMPUTING` iteration ``done + 1``. No
        I/O (the thread writes)."""
        self.done, self.phase = done, phase

    def write(self) -> None:
        tmp = f'{self.path}.{os.getpid()}.tmp'
        with open(tmp, 'w') as f:
            json.dump(
                dict(
                    rank=self.rank,
                    done=self.done,
                    phase=self.phase,
                    time=time.time(),
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started=self.started), f)
        os.replace(tmp, self.path)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.write()
            except OSError:  # a full or gone file system: try again later
                pass

    def start(self) -> None:
        self.write()
        self._thread = threading.Thread(
            target=self._run, name='rank-heartbeat', daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def process_start(pid: int) -> Optional[int]:
    """When process ``pid`` started (clock ticks after boot, field 22 of
    ``/proc/<pid>/stat``), which tells it from a later process given the
    same pid; None where there is no such process or no ``/proc``."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return int(f.read().rsplit(')', 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def read_ranks(work_dir: str) -> List[dict]:
    """Every rank's last record, by rank; unreadable files are skipped."""
    records = []
    for path in glob.glob(osp.join(glob.escape(work_dir), FOLDER, 'rank*')):
        if path.endswith('.tmp'):
            continue
        try:
            with open(path) as f:
                records.append(json.load(f))
        except (OSError, ValueError):
            pass
    return sorted(records, key=lambda r: r.get('rank', -1))


def _silent(records: List[dict], silent_after_s: float) -> List[dict]:
    """The records written ``silent_after_s`` seconds or more before the
    freshest one."""
    newest = max((r['time'] for r in records), default=0.)
    return [r for r in records if newest - r['time'] >= silent_after_s]


def _where(r: dict) -> str:
    return f"{r['phase']} iteration {r['done'] + 1}"


def describe_ranks(work_dir: str,
                   world_size: Optional[int] = None,
                   now: Optional[float] = None,
                   silent_after_s: float = 5.) -> str:
    """One paragraph for a failed collective: the ranks with no sign of
    life for ``silent_after_s`` seconds more than the freshest rank, the
    ranks behind the others, the ranks that never wrote, and what each was
    doing."""
    records = read_ranks(work_dir)
    now = time.time() if now is None else now
    if not records:
        return f'no rank progress recorded in {osp.join(work_dir, FOLDER)}'
    seen = {r['rank'] for r in records}
    lines = []
    missing = ([r for r in range(world_size)
                if r not in seen] if world_size else [])
    if missing:
        lines.append(f'rank(s) {missing} never started training')
    silent = _silent(records, silent_after_s)
    for r in silent:
        lines.append(f"rank {r['rank']} stopped answering: no sign of "
                     f"life for {now - r['time']:.0f} s, last "
                     f"{_where(r)} (host {r['host']}, pid {r['pid']})")
    order = [(r['done'], r['phase'] == COMPUTING) for r in records]
    ahead = max(order)
    for r, key in zip(records, order):
        if key < ahead and r not in silent:
            lines.append(f"rank {r['rank']} is behind: still {_where(r)} "
                         f"(host {r['host']}, pid {r['pid']})")
    if not lines:
        lines.append('every rank was alive and at the same step')
    table = ', '.join(f"rank {r['rank']}: {_where(r)}, "
                      f"{now - r['time']:.0f} s ago" for r in records)
    return '; '.join(lines) + f' [{table}]'


def kill_frozen_local_ranks(work_dir: str,
                            silent_after_s: float = 5.) -> List[dict]:
    """SIGKILL the ranks of this host that :func:`describe_ranks` names as
    stopped answering; for a rank whose collective failed (the group is
    torn down and restarted anyway), so that torchrun's restart does not
    wait its 30 s grace for a process that cannot answer its SIGTERM.

    Only processes on this host other than this one, and only while the
    pid is still the recorded process (same start time): a pid given to a
    new process since, or a record without a start time, is left alone.
    Returns the records of the ranks killed.
    """
    host, killed = socket.gethostname(), []
    for r in _silent(read_ranks(work_dir), silent_after_s):
        pid = r.get('pid')
        if (r.get('host') != host or not isinstance(pid, int)
                or pid == os.getpid() or r.get('started') is None
                or process_start(pid) != r['started']):
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:  # ended meanwhile, or not ours to kill
            continue
        killed.append(r)
    return killed
