"""Let mmengine load (and so resume from) its own checkpoints under
torch >= 2.6.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, and an
mmengine 0.10.x checkpoint holds more than tensors: its ``message_hub``
pickles ``HistoryBuffer`` objects (numpy arrays inside) whose statistics
methods are stored as ``getattr(HistoryBuffer, 'mean')``. ``Runner.resume``
then fails with ``UnpicklingError: Weights only load failed``.

Rather than turning the check off (``weights_only=False`` or
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``), :func:`allow_mmengine_checkpoints`
adds exactly these classes to torch's allow-list. ``getattr`` itself is *not*
allowed: the name ``builtins.getattr`` is mapped to a function that only
returns a registered statistics method of ``HistoryBuffer`` and refuses any
other lookup.

The allow-list is process-wide, so ``import panet_mmdet`` does not touch it.
It is set where mmengine checkpoints are loaded: ``tools/train.py``,
:mod:`panet_mmdet.apis` (every other tool loads through it),
:mod:`.fit`, the ``before_run`` of ``AtomicCheckpointHook`` and
``RandomStateCheckpointHook`` (so their configs resume with mmdet's own
``tools/train.py``), and on import of
:mod:`panet_mmdet.engine.torch_load_allowlist` (for other configs).
"""
import pickle
from typing import Any, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

# numpy's dtype classes an mmengine log scalar or dataset meta can carry.
_NUMPY_DTYPES = ('float16', 'float32', 'float64', 'int8', 'int16', 'int32',
                 'uint32', 'int64', 'uint8', 'bool')


def _history_buffer_method(owner: Any, name: str) -> Any:
    """``getattr`` limited to ``HistoryBuffer``'s statistics methods."""
    allowed = {'min', 'max', 'current', 'mean'}
    allowed.update(HistoryBuffer._statistics_methods)
    if owner is not HistoryBuffer or name not in allowed:
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr({owner!r}, {name!r}); only '
            f'HistoryBuffer statistics methods {sorted(allowed)} are allowed')
    return getattr(HistoryBuffer, name)


def _mmengine_safe_globals() -> List[Any]:
    """The allow-list entries, in ``torch.serialization.add_safe_globals``
    form."""
    from numpy._core import multiarray
    entries: List[Any] = [
        HistoryBuffer, np.ndarray, np.dtype,
        (_history_buffer_method, 'builtins.getattr')
    ]
    entries += [type(np.dtype(name)) for name in _NUMPY_DTYPES]
    # numpy 2 pickles as numpy._core.*, numpy 1 as numpy.core.*: accept both.
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    return entries


def allow_mmengine_checkpoints() -> None:
    """Allow-list what mmengine checkpoints contain for ``torch.load``.

    Idempotent; a no-op on torch versions without ``add_safe_globals``.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(_mmengine_safe_globals())
