"""DistributedLossAveragingHook and RandomStateCheckpointHook in isolation."""
import json
import os
import random

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from panet_mmdet.engine import (DistributedLossAveragingHook,
                                RandomStateCheckpointHook)


def _average_worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        outputs = {
            'loss': torch.tensor(1.0 + rank),
            'loss_mask': torch.tensor(10.0 * (rank + 1)),
            'acc': torch.tensor(50.0 + 10 * rank)
        }
        DistributedLossAveragingHook().after_train_iter(None, 0, None, outputs)
        with open(os.path.join(out_dir, f'rank{rank}.json'), 'w') as f:
            json.dump({k: float(v) for k, v in outputs.items()}, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_losses_are_averaged_over_ranks(tmp_path):
    mp.spawn(_average_worker, args=(2, 29531, str(tmp_path)), nprocs=2)
    results = [
        json.loads((tmp_path / f'rank{r}.json').read_text()) for r in range(2)
    ]
    assert results[0] == results[1] == {
        'loss': 1.5,
        'loss_mask': 15.0,
        'acc': 55.0
    }


def test_loss_averaging_is_a_noop_without_distributed():
    outputs = {'loss': torch.tensor(2.0)}
    DistributedLossAveragingHook().after_train_iter(None, 0, None, outputs)
    assert outputs['loss'].item() == 2.0


class _Runner:
    _resume = True


def test_random_states_roundtrip():
    hook = RandomStateCheckpointHook()
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    checkpoint = {}
    hook.before_save_checkpoint(_Runner(), checkpoint)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()  # move on
    hook.after_load_checkpoint(_Runner(), checkpoint)
    got = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]
    # loading weights without resuming leaves the RNGs alone
    runner = _Runner()
    runner._resume = False
    before = torch.get_rng_state()
    hook.after_load_checkpoint(runner, checkpoint)
    assert torch.equal(torch.get_rng_state(), before)


class _OnAnotherDevice:
    """A saved RNG state as mmengine hands it back on a GPU run (mapped to
    ``cuda``): only ``.cpu()`` gives the byte tensor torch accepts."""

    def __init__(self, state):
        self.state = state

    def cpu(self):
        return self.state


def test_random_states_mapped_to_another_device_are_restored():
    hook = RandomStateCheckpointHook()
    torch.manual_seed(2)
    checkpoint = {}
    hook.before_save_checkpoint(_Runner(), checkpoint)
    expected = torch.rand(3)
    states = checkpoint['random_states']
    states['torch'] = _OnAnotherDevice(states['torch'])
    hook.after_load_checkpoint(_Runner(), checkpoint)
    torch.testing.assert_close(torch.rand(3), expected)


def test_cuda_states_of_more_gpus_than_visible(monkeypatch):
    """Saved with 8 GPUs, resumed with 2: GPUs 0-1 get theirs back (as CPU
    byte tensors), the rest is logged, nothing raises."""
    from panet_mmdet.engine.hooks import random_state_hook
    restored = {}

    def set_rng_state(state, device):
        assert state.device.type == 'cpu' and state.dtype == torch.uint8
        restored[device] = int(state[0])

    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    monkeypatch.setattr(torch.cuda, 'set_rng_state', set_rng_state)
    warnings = []

    class Logger:

        def warning(self, message):
            warnings.append(message)

    states = [
        _OnAnotherDevice(torch.full((16, ), i, dtype=torch.uint8))
        for i in range(8)
    ]
    random_state_hook.set_cuda_states(states, Logger())
    assert restored == {0: 0, 1: 1}
    assert warnings == [
        'random states of 8 GPU(s) in the checkpoint, 2 visible now: '
        'restored those of GPUs 0-1'
    ]


@pytest.mark.gpu
def test_random_states_resume_on_cuda():
    """mmengine's resume maps every tensor to ``cuda``."""
    hook = RandomStateCheckpointHook()
    torch.cuda.init()
    checkpoint = {}
    hook.before_save_checkpoint(_Runner(), checkpoint)
    expected = (torch.rand(3), torch.rand(3, device='cuda'))
    checkpoint['random_states']['torch'] = \
        checkpoint['random_states']['torch'].cuda()
    checkpoint['random_states']['cuda'] = [
        s.cuda() for s in checkpoint['random_states']['cuda']
    ]
    hook.after_load_checkpoint(_Runner(), checkpoint)
    torch.testing.assert_close(torch.rand(3), expected[0])
    torch.testing.assert_close(torch.rand(3, device='cuda'), expected[1])


def test_atomic_backend_keeps_the_old_file_when_a_write_fails(
        tmp_path, monkeypatch):
    """Every checkpoint write of AtomicCheckpointHook (periodic and best)
    goes through AtomicLocalBackend: a write that fails (here fsync, as on a
    full disk) leaves the previous file whole and no temporary file."""
    from mmengine.fileio import get_file_backend
    from mmengine.runner import save_checkpoint

    from panet_mmdet.checkpoint import atomic
    from panet_mmdet.engine import AtomicCheckpointHook
    hook = AtomicCheckpointHook(
        interval=1, save_best='coco/segm_mAP', max_keep_ckpts=1)
    backend = get_file_backend(str(tmp_path), backend_args=hook.backend_args)
    assert type(backend).__name__ == 'AtomicLocalBackend'
    assert hook.max_keep_ckpts == -1 and hook.keep == 1  # removed after
    dst = str(tmp_path / 'best_coco_segm_mAP_iter_2.pth')
    save_checkpoint({'w': torch.ones(3)}, dst, backend_args=hook.backend_args)
    assert torch.equal(torch.load(dst)['w'], torch.ones(3))

    def full_disk(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(atomic.os, 'fsync', full_disk)
    with pytest.raises(OSError, match='No space'):
        save_checkpoint({'w': torch.zeros(3)},
                        dst,
                        backend_args=hook.backend_args)
    monkeypatch.undo()
    assert torch.equal(torch.load(dst)['w'], torch.ones(3))
    assert os.listdir(tmp_path) == [os.path.basename(dst)]
    # a remote out_dir keeps mmengine's own behaviour
    remote = AtomicCheckpointHook(interval=1, out_dir='s3://bucket/run')
    assert not remote.local and remote.backend_args is None
