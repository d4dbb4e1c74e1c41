"""The parts of surviving the cluster that need no cluster: which checkpoint
a (re)start resumes from, the collective timeout, the stop signals, the
requeue, the rank heartbeat and its report. tests/test_fault_tolerance.py
drives them with real faults.
"""
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import textwrap
import time

import pytest
from mmengine.config import Config

from panet_mmdet.checkpoint import restart_count, resume_plan
from panet_mmdet.engine import (RankHeartbeat, StopSignal, TrainingStopped,
                                collective_timeout_s, describe_ranks,
                                requeue_slurm_job)
from panet_mmdet.engine.heartbeat import (COMPUTING, LOADING,
                                          kill_frozen_local_ranks,
                                          process_start)
from conftest import run_tool


def _checkpoint(path):
    import torch
    torch.save({'state_dict': {'w': torch.zeros(1)}}, str(path))


def test_resume_plan(tmp_path):
    """--resume without a path on a fresh work dir starts as a fresh run
    (from load_from), with a checkpoint it resumes; a restart always
    continues from the work dir; no --resume on a first start leaves the
    config alone."""
    work = str(tmp_path)
    assert resume_plan(work, None, 'w.pth') == (None, 'w.pth')
    assert resume_plan(work, 'auto', 'w.pth') == (False, 'w.pth')
    assert resume_plan(work, 'auto', None) == (False, None)
    assert resume_plan(work, 'given.pth') == (True, 'given.pth')
    assert resume_plan(work, None, 'w.pth', restarted=True) == (False, 'w.pth')
    _checkpoint(tmp_path / 'iter_4.pth')
    assert resume_plan(work, 'auto', 'w.pth') == (True, None)
    assert resume_plan(work, 'given.pth', restarted=True) == (True, None)
    assert resume_plan(work, None, 'w.pth', restarted=True) == (True, None)
    assert resume_plan(work, 'given.pth') == (True, 'given.pth')
    # a truncated checkpoint is not one to resume from
    (tmp_path / 'iter_4.pth').write_bytes(b'PK\x03\x04 cut')
    assert resume_plan(work, 'auto', 'w.pth') == (False, 'w.pth')


def test_restart_count():
    assert restart_count({}) == 0
    assert restart_count({'TORCHELASTIC_RESTART_COUNT': '0'}) == 0
    assert restart_count({'TORCHELASTIC_RESTART_COUNT': '2'}) == 2
    assert restart_count({'SLURM_RESTART_COUNT': '1'}) == 1


def test_collective_timeout():
    assert collective_timeout_s(Config(), {}) is None
    assert collective_timeout_s(Config(), {'DIST_TIMEOUT': '90'}) == 90.
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(timeout=30))))
    assert collective_timeout_s(cfg, {'DIST_TIMEOUT': '90'}) == 30.
    with pytest.raises(
            ValueError,
            match="DIST_TIMEOUT: a positive number "
            "of seconds, got '1m'"):
        collective_timeout_s(Config(), {'DIST_TIMEOUT': '1m'})
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(timeout=0))))
    with pytest.raises(ValueError, match='env_cfg.dist_cfg.timeout'):
        collective_timeout_s(cfg, {})


def _record(work, rank, done, phase, age, now, **fields):
    os.makedirs(osp.join(work, '.ranks'), exist_ok=True)
    with open(osp.join(work, '.ranks', f'rank{rank}'), 'w') as f:
        record = dict(
            rank=rank,
            done=done,
            phase=phase,
            time=now - age,
            host='node3',
            pid=100 + rank)
        json.dump(dict(record, **fields), f)


def test_describe_ranks_names_the_silent_and_the_slow_rank(tmp_path):
    work, now = str(tmp_path), 1000.
    _record(work, 0, 7, COMPUTING, 0, now)
    _record(work, 1, 6, COMPUTING, 20, now)  # stopped: no sign of life
    _record(work, 2, 7, COMPUTING, 1, now)
    text = describe_ranks(work, 4, now=now)
    assert ('rank 1 stopped answering: no sign of life for 20 s, last '
            'computing iteration 7 (host node3, pid 101)') in text
    assert 'rank(s) [3] never started training' in text
    assert 'rank 0 stopped' not in text and 'rank 2 stopped' not in text
    assert 'is behind' not in text  # silent, so not also named as behind
    # alive but stuck loading its batch while the others compute
    _record(work, 1, 7, LOADING, 0, now)
    text = describe_ranks(work, 3, now=now)
    assert ('rank 1 is behind: still loading the batch of iteration 8'
            in text), text
    assert 'stopped answering' not in text
    _record(work, 1, 7, COMPUTING, 0, now)
    assert 'every rank was alive and at the same step' in describe_ranks(
        work, 3, now=now)
    assert 'no rank progress recorded' in describe_ranks(str(tmp_path / 'x'))


def test_frozen_ranks_of_this_host_are_killed_and_no_other(tmp_path):
    """Only a silent rank's process on this host, still the recorded one
    (same start time), gets the SIGKILL."""
    work, now, host = str(tmp_path), time.time(), socket.gethostname()
    procs = [subprocess.Popen(['sleep', '60']) for _ in range(4)]
    try:
        pids = [p.pid for p in procs]
        started = [process_start(pid) for pid in pids]
        assert None not in started
        mine = process_start(os.getpid())

        def record(rank, age, pid, start, where=host):
            _record(
                work,
                rank,
                6,
                COMPUTING,
                age,
                now,
                host=where,
                pid=pid,
                started=start)

        record(0, 0, os.getpid(), mine)
        record(1, 20, pids[0], started[0])  # frozen here, as recorded
        record(2, 20, pids[1], started[1] - 1)  # the pid reused since
        record(3, 20, pids[2], started[2], where='node3')  # another host
        record(4, 1, pids[3], started[3])  # alive
        record(5, 20, os.getpid(), mine)  # this process: never
        killed = kill_frozen_local_ranks(work)
        assert [r['rank'] for r in killed] == [1]
        assert procs[0].wait(10) == -signal.SIGKILL
        assert [p.poll() for p in procs[1:]] == [None] * 3
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert kill_frozen_local_ranks(str(tmp_path / 'none')) == []


def test_heartbeat_thread_keeps_writing(tmp_path):
    beat = RankHeartbeat(str(tmp_path), 3, every_s=0.1)
    beat.start()
    beat.update(5, COMPUTING)
    time.sleep(0.5)
    record = json.load(open(tmp_path / '.ranks' / 'rank3'))
    beat.stop()
    assert record['done'] == 5 and record['phase'] == COMPUTING
    assert time.time() - record['time'] < 0.5


_SIGNAL_SCRIPT = textwrap.dedent('''
    import os, signal, sys, time
    from panet_mmdet.engine.preemption import StopSignal
    stop = StopSignal(('SIGTERM', 'SIGUSR1'))
    if sys.argv[1] == 'armed':
        stop.armed = True
        child = os.fork()
        if child == 0:  # a DataLoader worker: ignores it, lives on
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.2)
            os._exit(7)
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.2)
        _, status = os.waitpid(child, 0)
        print(stop.received, stop.agreed(), os.waitstatus_to_exitcode(status))
    else:  # not training: the signal does what it did before, even with
        stop.armed = True  # an earlier runner's handler left armed
        StopSignal(('SIGTERM', ))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        print('survived')
''')


def test_stop_signal_records_while_armed_and_ends_the_process_otherwise():
    armed = run_tool(['-c', _SIGNAL_SCRIPT, 'armed'], timeout=60)
    # the first signal counts; the forked worker survived its own
    assert armed.stdout.split() == [str(int(signal.SIGTERM))] * 2 + ['7']
    idle = run_tool(['-c', _SIGNAL_SCRIPT, 'idle'], timeout=60, check=False)
    assert idle.returncode == -signal.SIGTERM and 'survived' not in idle.stdout


def test_stop_signals_are_checked():
    with pytest.raises(ValueError, match="stop_signals: each of .*'SIGKILL'"):
        StopSignal(('SIGKILL', ))
    stopped = TrainingStopped(int(signal.SIGUSR1), 7, 'w/iter_7.pth')
    assert stopped.code == 128 + signal.SIGUSR1
    assert str(stopped) == ('training stopped on SIGUSR1 after iteration 7; '
                            'resume from w/iter_7.pth')


def test_requeue_asks_slurm_and_says_what_to_do_when_it_cannot(
        tmp_path, monkeypatch):
    calls = tmp_path / 'calls'
    fake = tmp_path / 'bin' / 'scontrol'
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$@" >> ' + str(calls) + '\n'
                    '[ "$2" = 42 ] && exit 0\n'
                    'echo "Requested operation is presently disabled" >&2\n'
                    'exit 1\n')
    fake.chmod(0o755)
    logged = []
    monkeypatch.setenv('PATH',
                       str(fake.parent) + os.pathsep + os.environ['PATH'])
    assert not requeue_slurm_job(logged.append, env={})
    assert requeue_slurm_job(logged.append, env={'SLURM_JOB_ID': '42'})
    assert not requeue_slurm_job(logged.append, env={'SLURM_JOB_ID': '43'})
    assert calls.read_text().split('\n')[:2] == ['requeue 42', 'requeue 43']
    assert 'Slurm job 42 requeued' in logged[0]
    assert ('`scontrol requeue 43` failed (Requested operation is presently '
            'disabled); submit with `sbatch --requeue`') in logged[1]
