"""tools/train.py, tools/test.py, resume and 2-process gloo training, end to
end.

Each test runs the real scripts in a subprocess on the tiny config (128 px,
4 iterations of a ResNet-18 Mask R-CNN) and generated data.
"""
import glob
import json
import os.path as osp

import pytest
import torch

from conftest import TINY_CONFIG, data_options, run_tool

pytestmark = pytest.mark.slow


def _load(path):
    from panet_mmdet.checkpoint import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()  # what the tools do before loading
    return torch.load(path, map_location='cpu')


def _train(work_dir, data_root, *extra, max_iters=4, check=True):
    return run_tool([
        'tools/train.py', TINY_CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', *data_options(data_root),
        f'train_cfg.max_iters={max_iters}', *extra
    ],
                    check=check)


@pytest.fixture(scope='module')
def full_run(tiny_data, tmp_path_factory):
    """An uninterrupted 4-iteration run, checkpoints at 2 and 4."""
    work = tmp_path_factory.mktemp('full')
    proc = _train(work, tiny_data)
    return work, proc


def test_train_writes_checkpoints_and_logs(full_run):
    work, proc = full_run
    for it in (2, 4):
        ckpt = _load(osp.join(work, f'iter_{it}.pth'))
        assert ckpt['meta']['iter'] == it
        assert 'random_states' in ckpt
    logs = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    assert logs
    records = [json.loads(line) for line in open(logs[0])]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 4 and all(loss == loss and loss < 1e4
                                    for loss in losses)
    # the schedule was followed: warm-up then a step at iteration 3
    lrs = [r['lr'] for r in records if 'lr' in r]
    assert lrs[0] < lrs[1] and lrs[3] == pytest.approx(lrs[2] * 0.1, rel=0.3)
    # validation at the end printed COCO metrics for bbox and segm
    assert 'coco/segm_mAP' in proc.stdout + proc.stderr
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr


def test_resume_continues_exactly(full_run, tiny_data, tmp_path):
    work, _ = full_run
    # Stop at iteration 2 (a separate run with max_iters=2 would have another
    # LR schedule end; resuming from the full run's own iter_2 checkpoint is
    # what --resume does after an interruption).
    resumed = tmp_path / 'resumed'
    proc = _train(resumed, tiny_data, '--resume', osp.join(work, 'iter_2.pth'))
    out = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 2' in out
    a = _load(osp.join(work, 'iter_4.pth'))
    b = _load(osp.join(resumed, 'iter_4.pth'))
    assert b['meta']['iter'] == 4
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key in a['state_dict']:
        torch.testing.assert_close(
            b['state_dict'][key],
            a['state_dict'][key],
            rtol=1e-5,
            atol=1e-6,
            msg=key)
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys()
    for k in sa:
        for name in sa[k]:
            torch.testing.assert_close(
                sb[k][name], sa[k][name], rtol=1e-5, atol=1e-6)
    assert a['param_schedulers'] == b['param_schedulers']
    # The resumed run logged iterations 3 and 4 only, with the full run's LR.
    log = glob.glob(osp.join(resumed, '*', 'vis_data', 'scalars.json'))[0]
    iters = [
        json.loads(line)['iter'] for line in open(log) if '"loss"' in line
    ]
    assert iters == [3, 4]


def test_resume_refuses_a_checkpoint_of_another_config(full_run, tiny_data,
                                                       tmp_path):
    """A run whose config changed since its checkpoint (here: 5 classes
    instead of the demo's) stops before training, naming what differs,
    instead of resuming with the tensors that fit."""
    work, _ = full_run
    changed = tmp_path / 'changed'
    changed.mkdir()
    import shutil
    shutil.copy(osp.join(work, 'iter_4.pth'), changed / 'iter_4.pth')
    proc = _train(
        changed,
        tiny_data,
        'model.roi_head.bbox_head.num_classes=5',
        'model.roi_head.mask_head.num_classes=5',
        '--resume',
        check=False)
    assert proc.returncode != 0
    assert (f"the checkpoint to resume from ({changed / 'iter_4.pth'}) does "
            'not fit the model of this config (has it changed') in proc.stderr
    assert 'roi_head.bbox_head.fc_cls' in proc.stderr
    assert not glob.glob(str(changed / '*' / 'vis_data' / 'scalars.json'))


def test_resume_without_a_checkpoint_is_named(tiny_data, tmp_path):
    proc = run_tool([
        'tools/train.py', TINY_CONFIG, '--work-dir',
        str(tmp_path), '--resume',
        str(tmp_path / 'missing.pth')
    ],
                    check=False)
    assert proc.returncode != 0
    assert 'missing.pth' in proc.stderr


def test_two_process_gloo_training_then_single_process_test(
        tiny_data, tmp_path):
    work = tmp_path / 'dist'
    proc = run_tool([
        'tools/dist_train.sh', TINY_CONFIG, '2', '--work-dir',
        str(work), '--cfg-options', *data_options(tiny_data),
        'train_cfg.max_iters=2', 'train_cfg.val_interval=100'
    ],
                    env={'PORT': '29517'})
    out = proc.stdout + proc.stderr
    assert 'world_size: 2' in out or "'world_size': 2" in out or \
        'Distributed launcher: pytorch' in out
    saved = glob.glob(osp.join(work, '*.pth'))
    assert sorted(osp.basename(p) for p in saved) == ['iter_2.pth']
    ckpt = _load(osp.join(work, 'iter_2.pth'))
    # saved from the unwrapped model: no DDP 'module.' prefix
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])
    metrics = tmp_path / 'metrics.json'
    run_tool([
        'tools/test.py', TINY_CONFIG,
        osp.join(work, 'iter_2.pth'), '--work-dir',
        str(tmp_path / 'test'), '--save-metrics',
        str(metrics), '--cfg-options', *data_options(tiny_data)
    ])
    result = json.loads(metrics.read_text())
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(result)
    # and the distributed test launcher gives the same metrics
    dist_metrics = tmp_path / 'dist_metrics.json'
    run_tool([
        'tools/dist_test.sh', TINY_CONFIG,
        osp.join(work, 'iter_2.pth'), '2', '--work-dir',
        str(tmp_path / 'dist_test'), '--save-metrics',
        str(dist_metrics), '--cfg-options', *data_options(tiny_data)
    ],
             env={'PORT': '29518'})
    assert json.loads(dist_metrics.read_text()) == result
