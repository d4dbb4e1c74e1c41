"""torch >= 2.6 weights_only loading of mmengine checkpoints, and its
limits."""
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from panet_mmdet.checkpoint import allow_mmengine_checkpoints


@pytest.fixture(autouse=True)
def _allow_list():
    allow_mmengine_checkpoints()  # process-wide: what the tools call


def _roundtrip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf)  # the default: weights_only=True on torch >= 2.6


def test_message_hub_state_loads_with_weights_only():
    hub = MessageHub.get_instance('test_checkpoint_compat')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
        hub.update_scalar('train/iter', np.int64(i))
    hub.update_info('iter', 3)
    state = dict(
        message_hub=hub.state_dict(),
        meta=dict(
            seed=np.int64(7),
            dataset_meta=dict(classes=('a', 'b'), palette=[(1, 2, 3)])),
        state_dict={'w': torch.ones(2)},
        random_states=dict(numpy=np.random.get_state()))
    loaded = _roundtrip(state)
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert buf.current() == pytest.approx(1 / 3)
    assert loaded['meta']['seed'] == 7
    assert np.array_equal(loaded['random_states']['numpy'][1],
                          np.random.get_state()[1])


class _Lookup:
    """Pickles as ``getattr(owner, name)``."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return (getattr, (self.owner, self.name))


@pytest.mark.parametrize('owner, name', [(HistoryBuffer, '__init__'),
                                         (np.ndarray, 'tofile'),
                                         (HistoryBuffer, '__class__')])
def test_getattr_is_limited_to_history_buffer_methods(owner, name):
    buf = io.BytesIO()
    torch.save({'x': _Lookup(owner, name)}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match='getattr|allowed'):
        torch.load(buf)
    buf.seek(0)
    torch.save({'x': _Lookup(HistoryBuffer, 'mean')}, buf)
    buf.seek(0)
    assert torch.load(buf)['x'] is HistoryBuffer.mean
