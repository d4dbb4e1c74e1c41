"""Building and loading detectors: the one way in for the tools, the ONNX
exporter, the converter, the analysis scripts and library users.

:func:`load_detector` is mmdet's ``init_detector`` with this package's
guarantees: it reads mmengine checkpoints under torch's ``weights_only``
loader, builds without downloading anything, and refuses a checkpoint that
does not fill the model (per module: what is missing, unexpected or of
another shape) instead of running a half-random model.

    >>> from panet_mmdet.apis import load_detector
    >>> model = load_detector('configs/demo/panet_r18_bufpn-gn_demo.py',
    ...                       'work_dirs/demo/iter_1600.pth')
"""
import copy
import warnings
from typing import Mapping, Optional, Union

import torch
from mmengine.config import Config
from torch import nn

from .checkpoint import allow_mmengine_checkpoints, check_checkpoint_fits
from .checkpoint.fit import read_checkpoint
from .utils.configs import load_config, offline_model_cfg

ConfigLike = Union[str, Config]


def default_device() -> str:
    """``'cuda'`` where a usable GPU is present, else ``'cpu'``."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def prepare_config(cfg: ConfigLike,
                   cfg_options: Optional[dict] = None) -> Config:
    """A copy of ``cfg`` (a path, ``mmdet::...`` or a ``Config``) with
    ``cfg_options`` merged and its model ready to build offline: the
    config's ``custom_imports`` imported, timm's ``pretrained`` download and
    the backbone's ``init_cfg`` (ImageNet weights) turned off."""
    import panet_mmdet  # noqa: F401  (registers the modules, panet_mmdet::)
    cfg = load_config(cfg) if isinstance(cfg, str) else copy.deepcopy(cfg)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.model = offline_model_cfg(cfg)
    if 'backbone' in cfg.model:
        cfg.model.backbone.init_cfg = None
    return cfg


def build_detector(cfg: ConfigLike,
                   *,
                   device: str = 'cpu',
                   cfg_options: Optional[dict] = None) -> nn.Module:
    """The config's model with its random initialisation (``init_weights``
    is not called), on ``device``; ``model.cfg`` is the prepared config.
    Downloads nothing."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = prepare_config(cfg, cfg_options)
    model = MODELS.build(cfg.model)
    model.cfg = cfg
    return model.to(device)


def load_weights(model: nn.Module,
                 checkpoint: Union[str, Mapping[str, torch.Tensor]],
                 *,
                 strict: bool = True,
                 config: Optional[str] = None) -> dict:
    """Load ``checkpoint`` (a file or a state dict) into an already built
    ``model`` (a DDP wrapper is unwrapped), e.g. a ``Runner``'s.

    Returns the file's ``meta`` (``{}`` for a state dict).

    Raises:
        CheckpointMismatchError: (a ``ValueError``) when ``strict`` and the
            checkpoint does not fill every tensor of the model with its
            shape, or holds tensors the model lacks; the message names them
            per module. ``config`` names the model's config in it.
        ValueError: the file is missing, unreadable or holds no state dict.
    """
    from mmengine.model import is_model_wrapper
    from mmengine.runner import load_state_dict
    allow_mmengine_checkpoints()
    if isinstance(checkpoint, str):
        state, meta = read_checkpoint(checkpoint)
    else:
        state, meta = checkpoint, {}
    check_checkpoint_fits(
        model,
        state,
        allow_partial=not strict,
        config=config,
        name=f'checkpoint {checkpoint!r}'
        if isinstance(checkpoint, str) else None)
    load_state_dict(
        model.module if is_model_wrapper(model) else model,
        state,
        strict=False)  # what does not fit was refused or allowed above
    return meta


def load_detector(cfg: ConfigLike,
                  checkpoint: Optional[str] = None,
                  *,
                  strict: bool = True,
                  device: Optional[str] = None,
                  cfg_options: Optional[dict] = None) -> nn.Module:
    """A detector in eval mode with ``checkpoint``'s weights, as mmdet's
    ``init_detector`` makes it (``model.cfg``, ``model.dataset_meta`` from
    the checkpoint's meta, the config's palette), but refusing weights that
    do not fit.

    Args:
        cfg: a config file, ``mmdet::...`` or ``panet_mmdet::...`` name, or
            a ``Config`` (not changed).
        checkpoint: an mmengine/mmdet checkpoint; ``None`` keeps the random
            initialisation (and mmdet's COCO class names).
        strict: refuse a checkpoint that does not fill every tensor of the
            model or holds tensors it lacks. ``False`` loads what fits, the
            rest keeping its random initialisation (mmdet's behaviour).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:N'``; ``None`` picks CUDA when
            a usable GPU is present.
        cfg_options: config overrides, as ``--cfg-options``.

    Raises:
        CheckpointMismatchError: (a ``ValueError``) the checkpoint does not
            fit and ``strict`` is set.
        ValueError: the checkpoint is missing, unreadable or holds no state
            dict.
    """
    from mmdet.apis import init_detector
    config_name = cfg if isinstance(cfg, str) else cfg.filename
    cfg = prepare_config(cfg, cfg_options)
    with warnings.catch_warnings():
        if checkpoint is not None:  # its classes come below, not COCO's
            warnings.filterwarnings('ignore', 'checkpoint is None')
        model = init_detector(cfg, None, device='cpu')  # random init
    if checkpoint is not None:
        meta = load_weights(
            model, checkpoint, strict=strict, config=config_name)
        dataset_meta = meta.get('dataset_meta')
        if dataset_meta is None and 'CLASSES' in meta:  # mmdet 2.x
            dataset_meta = dict(classes=meta['CLASSES'])
        if dataset_meta is not None:
            palette = model.dataset_meta.get('palette')
            model.dataset_meta = {
                k.lower(): v
                for k, v in dataset_meta.items()
            }
            if palette is not None:  # the config's (or 'random')
                model.dataset_meta.setdefault('palette', palette)
    return model.to(device or default_device()).eval()


def build_inferencer(cfg: ConfigLike,
                     checkpoint: str,
                     *,
                     strict: bool = True,
                     device: Optional[str] = None,
                     **kwargs):
    """mmdet's ``DetInferencer`` (drawing, JSON predictions, batching)
    whose model comes from :func:`load_detector`, so that it refuses a
    checkpoint that does not fit. ``kwargs`` go to ``DetInferencer``."""
    from mmdet.apis import DetInferencer

    class _Inferencer(DetInferencer):

        def _init_model(self, cfg, weights, device='cpu'):
            return load_detector(cfg, weights, strict=strict, device=device)

    return _Inferencer(
        model=cfg if isinstance(cfg, str) else copy.deepcopy(cfg),
        weights=checkpoint,
        device=device or default_device(),
        **kwargs)
