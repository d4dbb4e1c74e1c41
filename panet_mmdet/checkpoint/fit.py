"""Whether a checkpoint fits a model, said per module.

mmengine loads checkpoints with ``strict=False`` and only warns about what
does not fit, so testing, inference or export can run on a half-random
model. :func:`check_checkpoint_fits` raises instead, naming per module what
is missing, unexpected or of another shape; the tools take
``--allow-partial-checkpoint`` to run anyway. Training's ``load_from``
(fine-tuning) keeps mmdet's partial loading: :func:`fit_summary` gives the
one line it logs.
"""
import os.path as osp
import zipfile
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

PARTIAL_FLAG = '--allow-partial-checkpoint'


class CheckpointMismatchError(ValueError):
    """The checkpoint's tensors do not match the model's."""


def read_checkpoint(path: str) -> Tuple['OrderedDict[str, Tensor]', dict]:
    """The state dict of an mmengine/mmdet checkpoint (or a bare state dict)
    with a leading ``module.`` removed, as mmengine's loader does, and the
    file's ``meta`` (``{}`` when it has none). Tensors are memory-mapped
    from torch's zip files, not read until used.

    Raises:
        ValueError: the file is missing or holds no state dict.
    """
    from .allowlist import allow_mmengine_checkpoints
    allow_mmengine_checkpoints(
    )  # mmengine's checkpoints hold more than tensors
    if not osp.isfile(path):
        raise ValueError(f'checkpoint {path!r} is not a file')
    try:
        ckpt = torch.load(
            path,
            map_location='cpu',
            weights_only=True,
            mmap=zipfile.is_zipfile(path))
    except Exception as e:  # unreadable: say so with the file's name
        raise ValueError(f'checkpoint {path!r} could not be read '
                         f'({type(e).__name__}: {e})') from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(
            isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f'checkpoint {path!r} holds no state dict of '
                         'tensors')
    meta = ckpt.get('meta', {}) if 'state_dict' in ckpt else {}
    return OrderedDict((k[7:] if k.startswith('module.') else k, v)
                       for k, v in state.items()), meta or {}


def checkpoint_state_dict(path: str) -> 'OrderedDict[str, Tensor]':
    """The state dict of :func:`read_checkpoint`."""
    return read_checkpoint(path)[0]


def _group(key: str) -> Tuple[str, str]:
    """``('roi_head.mask_head', 'fc_convs')`` for
    ``roi_head.mask_head.fc_convs.0.conv.weight``: the detector part (the
    RoI head's parts separately), then the first module inside it."""
    parts = key.split('.')
    n = 2 if parts[0] == 'roi_head' and len(parts) > 2 else 1
    return '.'.join(parts[:n]), parts[n] if len(parts) > n + 1 else ''


def compare(model_state: Mapping[str, Tensor],
            checkpoint_state: Mapping[str, Tensor]) -> Dict[str, list]:
    """``missing`` (in the model, not in the checkpoint), ``unexpected`` and
    ``shapes`` (``(key, checkpoint shape, model shape)``)."""
    missing = [k for k in model_state if k not in checkpoint_state]
    unexpected = [k for k in checkpoint_state if k not in model_state]
    shapes = [(k, tuple(checkpoint_state[k].shape), tuple(v.shape))
              for k, v in model_state.items() if k in checkpoint_state
              and tuple(checkpoint_state[k].shape) != tuple(v.shape)]
    return dict(missing=missing, unexpected=unexpected, shapes=shapes)


def _by_module(keys: List[str], what: str) -> List[str]:
    counts: 'OrderedDict[str, int]' = OrderedDict()
    inner: Dict[str, List[str]] = {}
    for key in keys:
        part, name = _group(key)
        counts[part] = counts.get(part, 0) + 1
        names = inner.setdefault(part, [])
        if name and name not in names:
            names.append(name)
    out = []
    for part, n in counts.items():
        names = inner[part]
        listed = ', '.join(names[:4]) + (', ...' if len(names) > 4 else '')
        out.append(f'{part}: {n} tensor{"s" * (n != 1)} {what}' +
                   (f' ({listed})' if listed else ''))
    return out


def describe(diff: Dict[str, list]) -> List[str]:
    """One line per module and kind of mismatch."""
    lines = _by_module(diff['missing'], 'missing') + _by_module(
        diff['unexpected'], 'unexpected')
    for key, got, want in diff['shapes'][:5]:
        lines.append(f'{key}: shape {got} in the checkpoint, {want} in the '
                     'model')
    if len(diff['shapes']) > 5:
        lines.append(f'... {len(diff["shapes"]) - 5} more of another shape')
    return lines


def fit_summary(model: nn.Module, checkpoint: Union[str, Mapping]) -> str:
    """One line: what of ``model`` the checkpoint does not fill (for logs)."""
    state = checkpoint_state_dict(checkpoint) if isinstance(
        checkpoint, str) else checkpoint
    diff = compare(_model_state(model), state)
    if not any(diff.values()):
        return 'the checkpoint fits the model exactly'
    return 'not loaded from the checkpoint: ' + '; '.join(describe(diff))


def _model_state(model: nn.Module) -> Dict[str, Tensor]:
    return getattr(model, 'module', model).state_dict()


def check_checkpoint_fits(model: nn.Module,
                          checkpoint: Union[str, Mapping],
                          allow_partial: bool = False,
                          config: Optional[str] = None,
                          name: Optional[str] = None) -> Dict[str, list]:
    """Raise unless every tensor of ``model`` (a DDP wrapper is unwrapped)
    comes from ``checkpoint`` with its shape and nothing is left over.

    Returns the differences (empty lists when it fits); with
    ``allow_partial`` it never raises.

    Raises:
        CheckpointMismatchError: naming, per module, what is missing,
            unexpected or of another shape.
    """
    name = name or (f'checkpoint {checkpoint!r}' if isinstance(
        checkpoint, str) else 'the state dict')
    state = checkpoint_state_dict(checkpoint) if isinstance(
        checkpoint, str) else checkpoint
    diff = compare(_model_state(model), state)
    if any(diff.values()) and not allow_partial:
        where = f' of {config}' if config else ''
        raise CheckpointMismatchError(
            f'{name} does not fit the model{where}:\n  ' +
            '\n  '.join(describe(diff)) +
            '\nIs it the checkpoint of another config? To run with the '
            'tensors that fit (the rest keeps its random initialisation): '
            f'strict=False in panet_mmdet.apis, {PARTIAL_FLAG} in the '
            'tools.')
    return diff
