"""Scale-out, end to end: two torchrun "nodes" on one machine train exactly
as one node with two processes, and the Slurm launchers run on a real Slurm.

The Slurm test needs a cluster whose partition answers (a one-machine one:
``sudo tools/dev/local_slurm.sh up``, which .ci/run starts); elsewhere it
skips and says why, unless PANET_REQUIRE_SLURM=1 (set by .ci/run) turns the
skip into a failure.
"""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import time

import pytest
import torch
from test_clean_exit import DEMO, _processes_naming, _run

from conftest import data_options, launcher_env, run_tool

pytestmark = pytest.mark.slow
PARTITION = os.environ.get('PANET_SLURM_PARTITION', 'debug')
ITERS = 2


def _losses(work):
    """The logged training scalars of each iteration (rank 0's log, which
    DistributedLossAveragingHook fills with the mean over all processes)."""
    [path] = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    rows = [json.loads(line) for line in open(path)]
    return {
        r['iter']: {
            k: v
            for k, v in r.items() if k.startswith('loss')
        }
        for r in rows if 'loss' in r
    }


def _weights(work):
    from panet_mmdet.checkpoint import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()  # what the tools do before loading
    ckpt = torch.load(osp.join(work, f'iter_{ITERS}.pth'), map_location='cpu')
    return ckpt['state_dict']


def test_two_nodes_train_exactly_as_one_node(tiny_data, tmp_path):
    """NNODES=2 (NODE_RANK 0 and 1, one process each, MASTER_ADDR
    127.0.0.1) against NNODES=1 with 2 processes, same seed and data, on the
    demo config (persistent data workers). Tolerance: none. The two runs
    make the same computations in the same order (gloo's all-reduce over 2
    ranks does not depend on where the ranks live), so losses and weights
    must be bit-identical. Every run, and dist_test.sh's after them, reaches
    EOF soon after its last iteration and leaves no process
    (tests/test_clean_exit.py says why)."""
    args = [
        '--cfg-options', *data_options(tiny_data),
        f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
        'default_hooks.logger.interval=1'
    ]
    one = tmp_path / 'one_node'
    took, _ = _run(
        [(['tools/dist_train.sh', DEMO, '2', '--work-dir',
           str(one), *args], launcher_env(PORT='29541'))], 'Iter(val) [')
    assert took < 30, took
    assert not _processes_naming(str(one))

    # separate work dirs: no shared file system needed
    nodes = [tmp_path / f'node{rank}' for rank in (0, 1)]
    took, outputs = _run(
        [(['tools/dist_train.sh', DEMO, '1', '--work-dir',
           str(work), *args],
          launcher_env(
              NNODES='2',
              NODE_RANK=str(rank),
              MASTER_ADDR='127.0.0.1',
              PORT='29542'))
         for rank, work in enumerate(nodes)], 'Iter(val) [')
    assert took < 30, took
    for work in nodes:
        assert not _processes_naming(str(work))
    assert 'GPU number: 2' in outputs[0]  # world size 2
    # rank 0 (node 0) writes the checkpoint; node 1 has none
    assert not glob.glob(str(tmp_path / 'node1' / '*.pth'))

    two = tmp_path / 'node0'
    losses_one, losses_two = _losses(one), _losses(two)
    assert sorted(losses_one) == list(range(1, ITERS + 1))
    assert losses_two == losses_one
    w_one, w_two = _weights(one), _weights(two)
    assert w_one.keys() == w_two.keys()
    for k in w_one:
        assert torch.equal(w_one[k], w_two[k]), k

    test_dir = str(tmp_path / 'test')
    took, [out] = _run([([
        'tools/dist_test.sh', DEMO,
        str(one / f'iter_{ITERS}.pth'), '2', '--work-dir', test_dir,
        '--cfg-options', *data_options(tiny_data)
    ], launcher_env(PORT='29543'))], 'Iter(test) [')
    assert 'coco/segm_mAP' in out
    assert took < 30, took
    assert not _processes_naming(test_dir)


def _slurm_ready():
    if shutil.which('srun') is None:
        return ('Slurm is not installed (no srun); start a one-machine '
                'cluster with: sudo tools/dev/local_slurm.sh up')
    # a job that just ended (the other Slurm test's) can hold the node for
    # a few seconds more ('allocated', 'completing'): wait for it
    deadline = time.time() + 120
    while True:
        probe = subprocess.run(['sinfo', '-h', '-p', PARTITION, '-o', '%T'],
                               capture_output=True,
                               text=True)
        state = probe.stdout.strip()
        busy = state.startswith(('allocated', 'completing'))
        if probe.returncode != 0 or not busy or time.time() > deadline:
            break
        time.sleep(2)
    if probe.returncode != 0 or not state.startswith(('idle', 'mixed')):
        return (f'Slurm partition {PARTITION!r} does not answer or has no '
                f'free node (sinfo: {state or probe.stderr.strip()!r}); '
                'start one with: sudo tools/dev/local_slurm.sh up')
    return None


@pytest.mark.slurm
def test_slurm_train_then_test(tiny_data, tmp_path):
    """slurm_train.sh, then slurm_test.sh with 2 tasks, on the demo config
    (persistent data workers): the launcher's lines, the training log, a
    checkpoint without DDP's prefix, the 2 tasks' metrics equal one
    process's; and each run reaches EOF soon after its last iteration and
    leaves no process (tests/test_clean_exit.py says why)."""
    reason = _slurm_ready()
    if reason:
        if os.environ.get('PANET_REQUIRE_SLURM') == '1':
            pytest.fail(reason)
        pytest.skip(reason)
    knobs = dict(GRES='', GPUS='2', GPUS_PER_NODE='2', CPUS_PER_TASK='1')
    work = tmp_path / 'slurm_train'
    took, [out] = _run([([
        'tools/slurm_train.sh', PARTITION, 'panet-train', DEMO,
        str(work), '--cfg-options', *data_options(tiny_data),
        f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}'
    ], launcher_env(MASTER_PORT='29545', **knobs))], 'Iter(val) [')
    assert took < 30, took
    assert not _processes_naming(str(work))
    assert 'Distributed launcher: slurm' in out and 'GPU number: 2' in out
    [log] = glob.glob(str(work / '*' / '*.log'))
    assert f'Iter(train) [{ITERS}/{ITERS}]' in open(log).read()
    ckpt = work / f'iter_{ITERS}.pth'
    assert not any(k.startswith('module.') for k in _weights(work))

    def test_args(name):
        return [
            '--work-dir',
            str(tmp_path / name), '--save-metrics',
            str(tmp_path / f'{name}.json'), '--cfg-options',
            *data_options(tiny_data)
        ]

    took, _ = _run([([
        'tools/slurm_test.sh', PARTITION, 'panet-test', DEMO,
        str(ckpt), *test_args('slurm')
    ], launcher_env(MASTER_PORT='29546', **knobs))], 'Iter(test) [')
    assert took < 30, took
    assert not _processes_naming(str(tmp_path / 'slurm'))
    run_tool(['tools/test.py', DEMO, str(ckpt), *test_args('single')])
    metrics = {
        name: json.loads((tmp_path / f'{name}.json').read_text())
        for name in ('slurm', 'single')
    }
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(metrics['slurm'])
    # 2 Slurm tasks evaluate the same val set as one process
    assert metrics['slurm'] == metrics['single']
