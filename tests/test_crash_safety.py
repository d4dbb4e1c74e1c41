"""Crash-safe checkpoints (AtomicCheckpointHook) and --resume, by fault
injection: training killed with SIGKILL at many moments, checkpoint writes
included, resumes each time and ends bit-identical to an uninterrupted run,
never losing more than the iterations since the last checkpoint."""
import glob
import json
import os
import os.path as osp
import random
import signal
import subprocess
import time

import pytest
import torch

from panet_mmdet.checkpoint import (checkpoint_is_intact,
                                    find_resumable_checkpoint)
from conftest import (ROOT, TINY_CONFIG, data_options, launcher_env, run_tool,
                      served_python)

pytestmark = pytest.mark.slow
FAULTS = osp.join(ROOT, 'tests', 'fault_injection')
ITERS, INTERVAL = 30, 2
OPTIONS = [
    f'train_cfg.max_iters={ITERS}', 'train_cfg.val_interval=100',
    f'default_hooks.checkpoint.interval={INTERVAL}',
    'default_hooks.checkpoint.max_keep_ckpts=1'
]


def _cmd(work, data, *extra):
    """A training run on the served interpreter (conftest.served_python:
    torch already imported; the fault injection's sitecustomize is imported
    at its start as Python would)."""
    return [
        served_python(), 'tools/train.py', TINY_CONFIG, '--work-dir',
        str(work), *extra, '--cfg-options', *data_options(data), *OPTIONS
    ]


def _env(**extra):
    env = launcher_env()  # 1 thread: the same in every run
    env.pop('PANET_FAULT_KILL_IN_SAVE', None)
    env.update(extra)
    if 'PANET_FAULT_KILL_IN_SAVE' in extra:  # tests/fault_injection/
        env['PYTHONPATH'] = FAULTS + os.pathsep + env['PYTHONPATH']
    return env


def _weights(path):
    return torch.load(
        path, map_location='cpu', weights_only=False)['state_dict']


def _max_logged_iter(work):
    done = 0
    for log in glob.glob(osp.join(str(work), '*', 'vis_data', 'scalars.json')):
        for line in open(log):
            done = max(done, json.loads(line).get('iter', 0))
    return done


@pytest.fixture(scope='module')
def reference(tiny_data, tmp_path_factory):
    work = tmp_path_factory.mktemp('uninterrupted')
    subprocess.run(
        _cmd(work, tiny_data),
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True)
    # max_keep_ckpts=1: each save removed the one before, once it was safe
    assert [osp.basename(p)
            for p in glob.glob(str(work / '*.pth'))] == [f'iter_{ITERS}.pth']
    return _weights(osp.join(str(work), f'iter_{ITERS}.pth'))


def _check_kill_in_save(work, phase, step, stale):
    """After a kill inside the save of iter_{step + 2} (the first of a run
    resumed from iter_{step}): what the phase leaves. The previous
    checkpoint is still there, complete, the pointer names a complete one,
    and --resume finds the newest complete one. ``stale``: temporary files
    there before this run (from kills in earlier runs)."""
    new = f'iter_{step + 2}.pth'
    old = f'iter_{step}.pth' if step else None
    files = {osp.basename(p) for p in glob.glob(str(work / '*.pth'))}
    ours = set(glob.glob(str(work / '.*.tmp'))) - stale
    pointer = work / 'last_checkpoint'
    pointer = pointer.read_text() if pointer.exists() else None
    assert old is None or old in files, (phase, files)
    if phase == 'written':  # not renamed yet: the old one is untouched
        assert new not in files and len(ours) == 1, (phase, files, ours)
        assert old is None or pointer.endswith(old)
    elif phase == 'renamed':  # both complete; the pointer still the old one
        assert new in files and not ours, (phase, files, ours)
        assert old is None or pointer.endswith(old)
    else:  # pointer updated, the old one not yet removed
        assert new in files and pointer.endswith(new), (phase, files)
    assert all(checkpoint_is_intact(str(work / f)) for f in files)
    expected = old if phase == 'written' else new
    if expected:
        assert find_resumable_checkpoint(str(work)).endswith(expected)


def test_resume_falls_back_when_last_checkpoint_is_gone(tiny_data, tmp_path):
    """The failure mode of mmengine's hook: last_checkpoint names a file
    that is not there (the previous tools/train.py --resume stopped with
    FileNotFoundError), and the next one is truncated."""
    keep_all = [
        'default_hooks.checkpoint.max_keep_ckpts=-1', 'train_cfg.max_iters=8'
    ]
    subprocess.run(
        _cmd(tmp_path, tiny_data) + keep_all,
        cwd=ROOT,
        check=True,
        env=_env(),
        capture_output=True)
    os.remove(tmp_path / 'iter_8.pth')
    data = open(tmp_path / 'iter_6.pth', 'rb').read()
    with open(tmp_path / 'iter_6.pth', 'wb') as f:
        f.write(data[:len(data) // 2])
    proc = run_tool([
        'tools/train.py', TINY_CONFIG, '--work-dir',
        str(tmp_path), '--resume', '--cfg-options', *data_options(tiny_data),
        *OPTIONS, *keep_all
    ])
    out = proc.stdout + proc.stderr
    assert 'iter_8.pth, which is missing; resuming from' in out
    assert 'iter_4.pth, the newest intact checkpoint' in out
    assert 'resumed epoch: 0, iter: 4' in out
    assert checkpoint_is_intact(str(tmp_path / 'iter_8.pth'))


def _wait_for_iteration(work, target, proc, timeout=120):
    """Until the run logged iteration ``target`` (or ended)."""
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if _max_logged_iter(work) >= target:
            return True
        time.sleep(0.05)
    return False


def _kill_and_resume(work, data, reference, per_phase, outside, seed):
    """Kill per_phase runs in each save phase and ``outside`` runs from
    outside, resume after each, run to the end; returns the figures."""
    rng = random.Random(seed)
    faults = [('save', f'1:{phase}')
              for phase in ('written', 'renamed', 'pointed') * per_phase]
    faults += [('outside', (rng.randint(1, 2), rng.uniform(0., 0.3)))
               for _ in range(outside)]
    rng.shuffle(faults)
    kills, lost, resumed_from, phases = 0, [], [], set()
    for kind, arg in faults + [('none', None)]:
        start = find_resumable_checkpoint(str(work), log=lambda m: None)
        step = int(start.rsplit('_', 1)[-1][:-4]) if start else 0
        resumed_from.append(step)
        env = _env(PANET_FAULT_KILL_IN_SAVE=arg) if kind == 'save' else _env()
        stale = set(glob.glob(str(work / '.*.tmp')))
        proc = subprocess.Popen(
            _cmd(work, data, '--resume'),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            process_group=0)
        if kind == 'outside':
            ahead, delay = arg
            if _wait_for_iteration(work, step + ahead, proc):
                time.sleep(delay)
                # the run's group: the served interpreter's caller and the
                # training process at once
                os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait(timeout=600)
        if kind == 'none':
            assert rc == 0
            break
        if rc == 0:  # the run reached the end before its planned kill
            break
        assert rc == -signal.SIGKILL, (kind, arg, rc)
        kills += 1
        if kind == 'save':
            _check_kill_in_save(work, arg.split(':')[1], step, stale)
            phases.add(arg.split(':')[1])
        after = find_resumable_checkpoint(str(work), log=lambda m: None)
        saved = int(after.rsplit('_', 1)[-1][:-4]) if after else 0
        # never behind what was saved before this attempt, and at most the
        # iterations since the last checkpoint are lost
        assert saved >= step
        lost.append(max(0, _max_logged_iter(work) - saved))
        assert lost[-1] <= INTERVAL, (kind, arg, lost)
    final = _weights(str(work / f'iter_{ITERS}.pth'))
    assert final.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(final[key], value), key
    assert not glob.glob(str(work / '.*.tmp'))
    print(f'kills {kills}, starts {len(resumed_from)}, resumed from '
          f'{resumed_from}, iterations lost per kill {lost}, final weights '
          'bit-identical to the uninterrupted run')
    return kills, phases


def test_killed_at_many_moments_resumes_bit_identical(reference, tiny_data,
                                                      tmp_path):
    """A seeded schedule of 12 kills: 6 inside the first checkpoint save of
    a run (each phase twice: written, renamed, pointer updated; after each,
    the files that phase leaves are checked), 6 from outside, a random
    fraction of a second after the run logged a random iteration (so, also
    during the save that follows the log line); --resume after each, then a
    run to the end."""
    kills, phases = _kill_and_resume(tmp_path, tiny_data, reference, 2, 6, 0)
    assert kills == 12
    assert phases == {'written', 'renamed', 'pointed'}


@pytest.mark.skipif(
    not os.environ.get('PANET_SOAK_KILLS'),
    reason='soak test: set PANET_SOAK_KILLS=N (e.g. 60)')
def test_soak_kill_and_resume(reference, tiny_data, tmp_path):
    n = int(os.environ['PANET_SOAK_KILLS'])
    kills, _ = _kill_and_resume(tmp_path, tiny_data, reference, n // 6,
                                n - 3 * (n // 6), 1)
    assert kills >= min(n, 10)
