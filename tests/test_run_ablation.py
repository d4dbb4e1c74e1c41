"""The demo ablation runner (tools/run_ablation.sh ->
tools/analysis/run_ablation.py): its ladder, its arguments, and (slow) a
whole ladder on tiny data: runs two at a time, resumes, measures the costs
through tools/benchmark.py ablation-costs, writes the table; Ctrl-C stops
its runs.
"""
import json
import os
import os.path as osp
import shutil
import sys

import pytest

from conftest import ROOT, run_tool
from test_demo_ablations import LADDER, STEPS

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import run_ablation  # noqa: E402


def test_run_ablation_lists_the_ladder_in_order():
    """The runner's ladder (its one list) is the ladder whose steps
    tests/test_demo_ablations.py checks, in order; the singles are the
    single-component configs."""
    assert [c for _, c in run_ablation.LADDER] == LADDER
    assert [label for label, _ in run_ablation.LADDER
            ] == ['stock Mask R-CNN', '+BPA', '+AFP', '+FF', '+HHD (PANet)']
    assert {c
            for _, c in run_ablation.SINGLES
            } == {s[0]
                  for s in STEPS[len(LADDER) - 1:]}


def test_run_ablation_script_is_a_thin_entry():
    with open(osp.join(ROOT, 'tools', 'run_ablation.sh')) as f:
        lines = [ln for ln in f if ln.strip() and not ln.startswith('#')]
    assert len(lines) <= 4
    assert 'tools/analysis/run_ablation.py "$@"' in lines[-1]


def test_run_ablation_settings():
    env = dict(
        ABLATION_ONLY='4 0',
        ABLATION_SINGLES='1',
        ABLATION_JOBS='2',
        OMP_NUM_THREADS='1')
    cfg = run_ablation.settings(['2', '5'], env)
    assert cfg['seeds'] == [2, 5] and cfg['jobs'] == 2
    assert cfg['rungs'] == [run_ablation.LADDER[4], run_ablation.LADDER[0]]
    assert cfg['threads'] == '1'
    assert run_ablation.settings([], dict(ABLATION_SINGLES='1'))['rungs'] == \
        run_ablation.LADDER + run_ablation.SINGLES
    cfg = run_ablation.settings([], dict(ABLATION_JOBS='2'))
    assert cfg['seeds'] == [0, 1, 2]
    assert cfg['threads'] == str(max(1, run_ablation.cores() // 2))
    assert cfg['cost_threads'] == str(run_ablation.cores())


@pytest.mark.parametrize('args,env,message', [
    (['x'], {}, "seeds are integers, got 'x'"),
    (['0'], {
        'ABLATION_ONLY': '9'
    }, "rung indices 0-4, got '9'"),
    (['0'], {
        'ABLATION_JOBS': '0'
    }, "ABLATION_JOBS is a positive integer"),
    (['0'], {
        'COST_VAL_IMAGES': '0'
    }, "COST_VAL_IMAGES is a positive integer, got '0'"),
])
def test_run_ablation_rejects_bad_arguments(tmp_path, args, env, message):
    env = dict(env, ABLATION_DIR=str(tmp_path / 'out'))
    proc = run_tool(
        ['tools/run_ablation.sh'] + args, env=env, check=False, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_run_ablation_runs_resumes_and_tables(tiny_data, tmp_path):
    """Two training iterations per rung on tiny data, in two subsets of the
    ladder, two 1-thread runs at a time: every rung is trained, tested,
    costed on all cores (the costs file keeps the first subset's configs
    when the second comes, and finds their checkpoints after the output
    directory has moved) and tabled; a rerun of the whole ladder skips
    finished runs and redoes a missing test from its checkpoint without
    training again. The runner and its runs use the served interpreter
    (each run a fresh process would spend seconds importing torch)."""
    out = str(tmp_path / 'ablation')
    env = dict(
        ABLATION_DIR=out,
        DATA_DIR=tiny_data,
        POLL_S='2',
        COST_REPEATS='1',
        COST_VAL_IMAGES='1',
        CKPT_INTERVAL='1',
        ABLATION_JOBS='2',
        OMP_NUM_THREADS='1',
        ABLATION_CFG_OPTIONS='train_cfg.max_iters=2 '
        'train_dataloader.batch_size=2 '
        'default_hooks.logger.interval=1')

    def costed():
        return set(json.load(open(osp.join(out, 'costs.json')))['configs'])

    first = run_tool(['tools/run_ablation.sh', '0'],
                     env=dict(env, ABLATION_ONLY='0'),
                     timeout=900)
    assert first.stdout.count(': training (log:') == 1, first.stdout
    assert costed() == {LADDER[0]}
    # as make ablation: 1-thread runs, the costs measured on all cores
    costs = json.load(open(osp.join(out, 'costs.json')))
    assert f'{len(os.sched_getaffinity(0))} threads' in costs['device']
    assert costs['val_images'] == 1  # COST_VAL_IMAGES reaches the benchmark
    # the directory moves: its runs' last_checkpoint files name the old place
    moved = str(tmp_path / 'ablation_moved')
    shutil.move(out, moved)
    out = env['ABLATION_DIR'] = moved
    second = run_tool(['tools/run_ablation.sh', '0'],
                      env=dict(env, ABLATION_ONLY='1 2 3 4'),
                      timeout=1200)
    assert second.stdout.count(': training (log:') == 4, second.stdout
    assert second.stdout.count(': testing') == 4, second.stdout
    assert costed() == set(LADDER)
    costs = json.load(open(osp.join(out, 'costs.json')))['configs']
    params = [costs[c]['params'] for c in LADDER]
    assert params[-1] > params[0] and params[1] > params[0]
    # interrupted after training: only the test is redone, one run at a time
    os.remove(
        osp.join(out, 'mask-rcnn_r18_bufpn-gn_demo_seed0',
                 'test_metrics.json'))
    third = run_tool(['tools/run_ablation.sh', '0'],
                     env=dict(env, ABLATION_JOBS='1'),
                     timeout=900)
    assert third.stdout.count('done before, skipped') == 4, third.stdout
    assert ': training (log:' not in third.stdout
    assert '[2/5] +BPA, seed 0: testing' in third.stdout
    assert '== costs' not in third.stdout  # all five measured already
    table = open(osp.join(out, 'ablation.md')).read()
    for label in ('stock Mask R-CNN', '+BPA', '+AFP', '+FF', '+HHD (PANet)'):
        assert f'| {label} | 1 |' in table
    assert osp.isfile(osp.join(out, 'ablation.png'))


@pytest.mark.slow
def test_run_ablation_interrupt_stops_its_runs(tiny_data, tmp_path):
    """SIGINT to run_ablation.sh (as Ctrl-C) stops the training runs it
    started in the background, not only the script."""
    import signal
    import subprocess
    import sys
    import time
    out = str(tmp_path / 'ablation')
    env = dict(
        os.environ,
        ABLATION_DIR=out,
        DATA_DIR=tiny_data,
        POLL_S='1',
        ABLATION_JOBS='2',
        OMP_NUM_THREADS='1',
        PYTHON=sys.executable,
        ABLATION_CFG_OPTIONS='train_cfg.max_iters=100000 '
        'train_dataloader.batch_size=2 '
        'default_hooks.logger.interval=1')
    proc = subprocess.Popen(['bash', 'tools/run_ablation.sh', '0'],
                            cwd=ROOT,
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True)
    logs = [
        osp.join(out, f'{osp.basename(c)[:-3]}_seed0', 'run.log')
        for c in LADDER[:2]
    ]
    deadline = time.time() + 300
    while time.time() < deadline and not all(
            osp.isfile(f) and 'Iter(train)' in open(f).read() for f in logs):
        time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and 'interrupted' in err, err
    time.sleep(3)
    left = subprocess.run(['pgrep', '-f', out], capture_output=True,
                          text=True).stdout.split()
    assert not left, f'training processes left running: {left}'
