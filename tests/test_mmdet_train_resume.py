"""mmdet's own ``tools/train.py --resume`` with a config that uses our hooks.

``import panet_mmdet`` (the config's ``custom_imports``) leaves torch's
``weights_only`` allow-list alone; ``AtomicCheckpointHook`` and
``RandomStateCheckpointHook`` set it when the run starts, before mmengine
resumes. So the tiny config (both hooks, as ``configs/_base_/
default_runtime.py`` and the demo configs have them) resumes with mmdet's
script under torch >= 2.6, and the same config with mmengine's plain
``CheckpointHook`` and no custom hooks does not.
"""
import os.path as osp

import mmdet
import pytest
import torch

from conftest import TINY_CONFIG, data_options, run_tool

pytestmark = pytest.mark.slow

MMDET_TRAIN = osp.join(
    osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')


def _mmdet_train(work, data_root, *extra, options=(), check=True):
    return run_tool([
        MMDET_TRAIN, TINY_CONFIG, '--work-dir',
        str(work), *extra, '--cfg-options', *data_options(data_root),
        'train_cfg.max_iters=2', *options
    ],
                    check=check)


@pytest.mark.skipif(
    not osp.isfile(MMDET_TRAIN),
    reason="mmdet's tools/train.py is not installed")
@pytest.mark.skipif(
    not hasattr(torch.serialization, 'add_safe_globals'),
    reason='torch < 2.4 loads without an allow-list')
def test_mmdet_train_resumes_with_our_hooks(tiny_data, tmp_path):
    _mmdet_train(tmp_path, tiny_data)  # 2 iterations, iter_2.pth
    assert osp.isfile(tmp_path / 'iter_2.pth')
    # --resume without a path: last_checkpoint's file (nothing left to train)
    proc = _mmdet_train(tmp_path, tiny_data, '--resume')
    assert 'resumed epoch: 0, iter: 2' in proc.stdout + proc.stderr
    # the newest-intact fallback lives in the hook, so mmdet's script gets
    # it: last_checkpoint names a truncated iter_4.pth -> resume from iter_2
    _mmdet_train(
        tmp_path, tiny_data, '--resume', options=['train_cfg.max_iters=4'])
    data = open(tmp_path / 'iter_4.pth', 'rb').read()
    with open(tmp_path / 'iter_4.pth', 'wb') as f:
        f.write(data[:len(data) // 2])
    assert open(tmp_path / 'last_checkpoint').read().endswith('iter_4.pth')
    proc = _mmdet_train(
        tmp_path, tiny_data, '--resume', options=['train_cfg.max_iters=4'])
    out = proc.stdout + proc.stderr
    assert 'iter_4.pth, which is unreadable; resuming from' in out, out
    assert 'resumed epoch: 0, iter: 2' in out
    # without our hooks nothing allow-lists mmengine's checkpoint contents
    plain = _mmdet_train(
        tmp_path,
        tiny_data,
        '--resume',
        check=False,
        options=[
            'default_hooks.checkpoint.type='
            'CheckpointHook', 'custom_hooks=[]'
        ])
    assert plain.returncode != 0
    assert 'Weights only load failed' in plain.stderr, plain.stderr[-3000:]
