"""Training that survives faults, end to end with the launchers: two gloo
processes under tools/dist_train.sh, on the CPU.

- a rank SIGKILLed at random moments, several times: torchrun restarts the
  workers, each start resumes from the newest checkpoint;
- a rank SIGSTOPped: the other fails after DIST_TIMEOUT, names the rank
  that stopped answering, torchrun restarts both;
- a rank sent SIGTERM (a scheduler's stop signal): it agrees with the other
  on an iteration boundary, both save it and stop, torchrun restarts them,
  nothing is repeated.

and on a real Slurm (the one-machine cluster that .ci/run starts:
tools/dev/local_slurm.sh), a requeueable batch job of tools/slurm_train.sh
with 2 tasks gets its stop signal twice, once as `sbatch
--signal=B:USR1@N` delivers it (to the batch shell only, which passes it
on) and once as a preemption does (SIGTERM to the tasks): each time the
ranks save the current iteration and the job requeues itself; nobody
resubmits.

Each run ends with weights bit-identical to an uninterrupted run of the same
seed (2 processes, same config), and each test checks what the faults cost
(iterations trained again).
"""
import glob
import json
import os
import os.path as osp
import random
import re
import signal
import subprocess
import time

import pytest
import torch

from conftest import (ROOT, TINY_CONFIG, data_options, launcher_env, pid_alive,
                      served_python)
from test_cluster import PARTITION, _slurm_ready

pytestmark = pytest.mark.slow
ITERS = 12
INTERVAL = 2  # checkpoint every INTERVAL iterations
ITER_RE = re.compile(r'Iter\(train\) \[ *(\d+)/\d+\]')


def train_args(work, data_root, interval=INTERVAL):
    return [
        '--work-dir',
        str(work), '--cfg-options', *data_options(data_root),
        f'train_cfg.max_iters={ITERS}', 'train_cfg.val_interval=1000',
        f'default_hooks.checkpoint.interval={interval}'
    ]


def start(work,
          data_root,
          port,
          interval=INTERVAL,
          extra=(),
          nproc=2,
          out=None,
          **extra_env):
    """tools/dist_train.sh with NPROC processes (EXTRA: more
    --cfg-options); its output goes to OUT, by default WORK.out (a pipe
    nobody reads would block it). torchrun's agent and its ranks run on the
    served interpreter (conftest.served_python: every start and restart
    would otherwise spend seconds per process importing torch);
    tests/test_cluster.py runs the launchers on fresh interpreters."""
    os.makedirs(work, exist_ok=True)
    out = out or f'{work}.out'
    proc = subprocess.Popen([
        'tools/dist_train.sh', TINY_CONFIG,
        str(nproc), *train_args(work, data_root, interval), *extra
    ],
                            cwd=ROOT,
                            env=launcher_env(
                                PORT=str(port),
                                PYTHON=served_python(),
                                **extra_env),
                            stdout=open(out, 'w'),
                            stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc.out = out
    return proc


def output(proc):
    with open(proc.out, errors='replace') as f:
        return f.read()


def finish(proc, timeout=420):
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f'the run did not finish in {timeout} s:\n'
                    f'{output(proc)[-4000:]}')
    out = output(proc)
    assert proc.returncode == 0, out[-6000:]
    return out


def heartbeat(work, rank=0):
    try:
        with open(osp.join(work, '.ranks', f'rank{rank}')) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def progress(work, rank=0):
    """The iterations rank RANK has finished, as its heartbeat (.ranks/)
    last wrote (once a second)."""
    return heartbeat(work, rank).get('done', 0)


def wait_for(work, iteration, proc, timeout=240):
    deadline = time.time() + timeout
    while progress(work) < iteration:
        assert proc.poll() is None, output(proc)[-4000:]
        assert time.time() < deadline, f'no iteration {iteration} in time'
        time.sleep(0.2)


def workers(work):
    """{rank: pid} of the run's live ranks, as their heartbeats
    (WORK/.ranks/) name them."""
    ranks = {}
    for rank in (0, 1):
        pid = heartbeat(work, rank).get('pid')
        if pid and pid_alive(pid):
            ranks[rank] = pid
    return ranks


def wait_for_workers(work, timeout=120):
    deadline = time.time() + timeout
    while len(found := workers(work)) < 2:
        assert time.time() < deadline, 'no two ranks alive'
        time.sleep(0.2)
    return found


def trained_iterations(work):
    """Every iteration rank 0 logged, over all starts, in order."""
    its = []
    for log in sorted(glob.glob(osp.join(work, '*', '*.log'))):
        its += [int(m) for m in ITER_RE.findall(open(log).read())]
    return its


def weights(work, iters=ITERS):
    from panet_mmdet.checkpoint import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()
    return torch.load(
        osp.join(work, f'iter_{iters}.pth'), map_location='cpu')['state_dict']


def assert_same_weights(work, reference, iters=ITERS):
    got = weights(work, iters)
    assert got.keys() == reference.keys()
    different = [k for k in got if not torch.equal(got[k], reference[k])]
    assert not different, f'{len(different)} tensors differ: {different[:5]}'


@pytest.fixture(scope='module')
def reference(tiny_data, tmp_path_factory):
    """The uninterrupted 2-process run: its final weights."""
    work = tmp_path_factory.mktemp('uninterrupted')
    out = finish(start(work, tiny_data, 29551))
    assert trained_iterations(work) == list(range(1, ITERS + 1)), out[-3000:]
    return weights(work)


def test_killed_ranks_restart_and_resume_bit_identical(reference, tiny_data,
                                                       tmp_path):
    """Three SIGKILLs, of rank 1, 0, 1, at random moments (a checkpoint
    every 2 iterations): torchrun restarts both ranks each time, each start
    resumes from the newest checkpoint, nobody adds --resume. Each kill
    costs at most the iterations since the last checkpoint."""
    rng = random.Random(0)
    work = tmp_path / 'killed'
    proc = start(work, tiny_data, 29552)
    kills = []
    for target, rank in ((2, 1), (5, 0), (8, 1)):
        wait_for(work, target, proc)
        time.sleep(rng.uniform(0, 0.6))
        pid = wait_for_workers(work)[rank]
        os.kill(pid, signal.SIGKILL)
        kills.append(rank)
        while pid in workers(work).values():
            time.sleep(0.1)
    out = finish(proc)
    assert out.count('Auto resumed from the latest checkpoint') >= 3, \
        out[-3000:]
    its = trained_iterations(work)
    repeated = len(its) - ITERS
    print(f'killed ranks {kills}; iterations trained {len(its)} for '
          f'{ITERS}: {repeated} again')
    assert its[-1] == ITERS and repeated <= 3 * INTERVAL, its
    assert_same_weights(work, reference)


def test_a_stopped_rank_fails_the_group_in_bounded_time(
        reference, tiny_data, tmp_path):
    """Rank 1 SIGSTOPped: rank 0 fails at its next collective after
    DIST_TIMEOUT (15 s here), names rank 1 and SIGKILLs it (a stopped
    process cannot answer torchrun's SIGTERM, for which torchrun would wait
    30 s), and torchrun restarts the group; the run resumes and ends as the
    uninterrupted one."""
    work = tmp_path / 'stopped'
    proc = start(work, tiny_data, 29553, DIST_TIMEOUT='15')
    wait_for(work, 5, proc)
    stopped = wait_for_workers(work)[1]
    since = time.time()
    os.kill(stopped, signal.SIGSTOP)
    try:
        while stopped in workers(work).values():
            assert time.time() - since < 120, 'the stopped rank stayed'
            time.sleep(0.5)
        took = time.time() - since
    finally:
        try:
            os.kill(stopped, signal.SIGCONT)
        except ProcessLookupError:
            pass
    out = finish(proc)
    named = re.search(
        r'rank 1 stopped answering: no sign of life for '
        r'(\d+) s', out)
    assert named and int(named.group(1)) >= 15, out[-5000:]
    assert 'rank 0 stopped answering' not in out
    assert f'SIGKILLed rank 1 (pid {stopped}): frozen' in out, out[-5000:]
    print(f'the stopped rank was ended after {took:.0f} s')
    assert took < 15 + 15  # the timeout + slack, not torchrun's 30 s grace
    its = trained_iterations(work)
    assert its[-1] == ITERS and len(its) - ITERS <= INTERVAL, its
    assert_same_weights(work, reference)


def test_a_stop_signal_saves_the_iteration_and_repeats_nothing(
        reference, tiny_data, tmp_path):
    """SIGTERM to one rank (what a scheduler sends before it stops a job):
    both ranks stop after the same iteration, save it, exit with 128+15;
    torchrun restarts them and no iteration is trained twice, although no
    periodic checkpoint comes before the last iteration."""
    work = tmp_path / 'signalled'
    proc = start(work, tiny_data, 29554, interval=100)
    wait_for(work, 3, proc)
    os.kill(wait_for_workers(work)[1], signal.SIGTERM)
    out = finish(proc)
    [step] = {
        int(s)
        for s in re.findall(r'SIGTERM: stopped after iteration '
                            r'(\d+)', out)
    }
    assert f'Saving checkpoint at {step} iterations (stop signal)' in out
    assert osp.isfile(work / f'iter_{step}.pth'), step
    assert 'exitcode: 143' in out, out[-4000:]
    its = trained_iterations(work)
    assert its == list(range(1, ITERS + 1)), its
    assert_same_weights(work, reference)


def job_state(job):
    out = subprocess.run(['scontrol', 'show', 'job', job],
                         capture_output=True,
                         text=True).stdout
    fields = dict(kv.split('=', 1) for kv in out.split() if '=' in kv)
    return fields.get('JobState', 'GONE'), int(fields.get('Restarts', 0))


def test_a_lost_node_started_again_rejoins_and_the_run_resumes(
        reference, tiny_data, tmp_path):
    """NNODES=2 on one machine (one process per "node", one shared work
    dir): node 1 is SIGKILLed whole (its torchrun agent and worker) and
    started again with the same command. Node 0's worker fails, its agent
    waits in a new rendezvous round, the new node 1 joins, both resume from
    the newest checkpoint; the run ends as the uninterrupted one."""
    work = tmp_path / 'two_nodes'

    def node(rank, attempt):
        return start(
            work,
            tiny_data,
            29555,
            nproc=1,
            out=f'{work}.node{rank}.{attempt}.out',
            NNODES='2',
            NODE_RANK=str(rank),
            MASTER_ADDR='127.0.0.1')

    node0 = node(0, 0)
    time.sleep(3)  # node 0 first: it hosts the rendezvous, rank 0
    node1 = node(1, 0)
    wait_for(work, 4, node0)
    # the whole node: its agent and its worker (rank 1; torchrun starts
    # workers in sessions of their own)
    for pid in [node1.pid, wait_for_workers(work)[1]]:
        os.kill(pid, signal.SIGKILL)
    node1.wait()
    time.sleep(2)
    node1 = node(1, 1)
    out = finish(node0, timeout=600)
    finish(node1, timeout=120)
    assert 'Auto resumed from the latest checkpoint' in out, out[-4000:]
    its = trained_iterations(work)
    print(f'node lost and rejoined: {len(its)} iterations for {ITERS}')
    assert its[-1] == ITERS and len(its) - ITERS <= INTERVAL, its
    assert_same_weights(work, reference)


def requeued(job, times):
    """True once the job has been requeued TIMES times and waits in the
    queue; Slurm (22.05) holds a requeued job for 121 s before it may
    start again: the test lets it start at once."""
    state, restarts = job_state(job)
    if restarts < times or state != 'PENDING':
        return state == 'RUNNING' and restarts >= times
    subprocess.run(['scontrol', 'update', f'JobId={job}', 'StartTime=now'],
                   capture_output=True)
    return True


def wait_until(what, check, timeout=300):
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.time() < deadline, f'timed out waiting for {what}'
        time.sleep(0.5)


@pytest.mark.slurm
def test_slurm_job_preempted_twice_requeues_and_resumes_bit_identical(
        reference, tiny_data, tmp_path):
    reason = _slurm_ready()
    if reason:
        if os.environ.get('PANET_REQUIRE_SLURM') == '1':
            pytest.fail(reason)
        pytest.skip(reason)
    work = tmp_path / 'preempted'
    log = tmp_path / 'job.out'
    # the tasks run on the served interpreter too (each of the job's three
    # starts would spend seconds per task importing torch)
    env = launcher_env(
        GRES='',
        GPUS='2',
        GPUS_PER_NODE='2',
        CPUS_PER_TASK='1',
        MASTER_PORT='29556',
        PYTHON=served_python())
    submit = subprocess.run([
        'sbatch', '--parsable', '--requeue', '--open-mode=append',
        f'--output={log}', '-p', PARTITION, '--ntasks=2', '--cpus-per-task=1',
        'tools/slurm_train.sh', PARTITION, 'preempt', TINY_CONFIG,
        str(work), '--cfg-options', *data_options(tiny_data),
        f'train_cfg.max_iters={ITERS}', 'train_cfg.val_interval=1000',
        'default_hooks.checkpoint.interval=100'
    ],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            check=True)
    job = submit.stdout.strip().split(';')[0]
    try:
        # 1: USR1 to the batch shell only (--signal=B:USR1@N)
        wait_until('iteration 3', lambda: progress(work) >= 3)
        subprocess.run(['scancel', '--batch', '--signal=USR1', job],
                       check=True)
        first = heartbeat(work)['pid']
        wait_until('the first requeue', lambda: requeued(job, 1))
        # 2: SIGTERM to the tasks, as before a preemption, once the requeued
        # job trains (its heartbeat starts when the stop signals are armed)
        wait_until('training after the requeue',
                   lambda: heartbeat(work).get('pid', first) != first)
        subprocess.run(['scancel', '--signal=TERM', job], check=True)
        wait_until('the second requeue', lambda: requeued(job, 2))
        state = wait_until(
            'the end of the job',
            lambda: job_state(job)[0] if job_state(job)[0] in
            ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'GONE') else None,
            timeout=400)
    finally:
        subprocess.run(['scancel', job], capture_output=True)
    out = log.read_text(errors='replace')
    assert state == 'COMPLETED', out[-5000:]
    stops = [(name, int(step)) for name, step in re.findall(
        r'(SIGUSR1|SIGTERM): stopped after iteration (\d+)', out)]
    assert [name for name, _ in stops] == ['SIGUSR1', 'SIGTERM'], out[-5000:]
    assert out.count('requeue: Slurm job') == 2, out[-5000:]
    for _, step in stops:
        assert f'resumed epoch: 0, iter: {step}' in out
    its = trained_iterations(work)
    assert its == list(range(1, ITERS + 1)), its  # nothing trained twice
    assert_same_weights(work, reference)


@pytest.mark.skipif(
    not os.environ.get('PANET_SOAK_FAULTS'),
    reason='soak test: set PANET_SOAK_FAULTS=N (at least 20)')
def test_soak_mixed_faults(tiny_data, tmp_path):
    """N faults of mixed kinds (SIGKILL, SIGSTOP, SIGTERM to a random rank
    at a random moment) in one 2-process run of 8 iterations per fault; it
    ends bit-identical to its own uninterrupted run."""
    faults = int(os.environ['PANET_SOAK_FAULTS'])
    iters = 8 * faults
    extra = [f'train_cfg.max_iters={iters}']
    rng = random.Random(faults)
    ref_work, work = tmp_path / 'uninterrupted', tmp_path / 'faulted'
    finish(start(ref_work, tiny_data, 29557, extra=extra), timeout=3600)
    proc = start(
        work,
        tiny_data,
        29558,
        extra=extra,
        DIST_TIMEOUT='15',
        MAX_RESTARTS=str(faults + 2))
    kinds = []
    for k in range(faults):
        wait_for(work, 8 * k + rng.randint(1, 6), proc, timeout=600)
        kind = rng.choice(('SIGKILL', 'SIGSTOP', 'SIGTERM'))
        pid = wait_for_workers(work)[rng.randint(0, 1)]
        os.kill(pid, getattr(signal, kind))
        kinds.append(kind)
        while pid in workers(work).values():  # replaced before the next
            time.sleep(0.2)
    finish(proc, timeout=3600)
    its = trained_iterations(work)
    print(f'{faults} faults {kinds}: {len(its)} iterations for {iters}')
    assert its[-1] == iters
    assert_same_weights(work, weights(ref_work, iters), iters)
