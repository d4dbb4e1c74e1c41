"""timm backbones for PANet through mmpretrain's ``TIMMBackbone``, offline.

Not imported by ``import panet_mmdet`` (it imports timm, mmpretrain and
torchvision): configs that use it name it in ``custom_imports``::

    custom_imports = dict(imports=[
        'panet_mmdet', 'panet_mmdet.models.backbones.timm_backbone'])
    model = dict(backbone=dict(
        _delete_=True, type='OfflineTIMMBackbone', model_name='resnet50_gn',
        features_only=True, out_indices=(1, 2, 3, 4), pretrained=True))

Needs ``pip install panet_mmdet[timm]`` (timm, mmpretrain, torchvision; see
requirements/timm.txt for the versions that work with mmcv 2.1).
"""
import os.path as osp
from typing import Optional

import torch.nn as nn
from mmdet.registry import MODELS

try:
    import timm
    from mmpretrain.models.backbones import TIMMBackbone
except ImportError as e:  # pragma: no cover - depends on the extra
    raise ImportError(
        'timm backbones need timm, mmpretrain and a torchvision that imports '
        'with your torch: pip install "panet_mmdet[timm]" (tested versions: '
        f'requirements/constraints.txt). Import error: {e}') from e


@MODELS.register_module()
class TIMMGroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` with timm's norm-layer signature.

    timm builds its norm layers as ``norm_layer(num_channels, **kw)``, which
    ``nn.GroupNorm(num_groups, num_channels)`` cannot take. Name this class
    as a timm model's ``norm_layer`` (``norm_layer='mmdet.TIMMGroupNorm'``
    through mmpretrain's ``TIMMBackbone``) to give e.g. a timm ResNet-18
    GroupNorm with 32 groups, as timm's own ``resnet50_gn`` has.

    Shapes: ``(N, num_channels, *)`` in and out.
    """

    def __init__(self,
                 num_channels: int,
                 num_groups: int = 32,
                 eps: float = 1e-5,
                 affine: bool = True,
                 **kwargs) -> None:
        super().__init__(
            num_groups, num_channels, eps=eps, affine=affine, **kwargs)


def _download_hint(model_name: str) -> str:
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return f'timm has no pretrained weights for {model_name!r}'
    where = []
    if getattr(cfg, 'hf_hub_id', None):
        where.append(
            f'https://huggingface.co/{cfg.hf_hub_id} (file '
            f"{getattr(cfg, 'hf_hub_filename', None) or 'model.safetensors'})")
    if getattr(cfg, 'url', None):
        where.append(cfg.url)
    return ' or '.join(where) or f'the weights of {model_name!r}'


@MODELS.register_module()
class OfflineTIMMBackbone(TIMMBackbone):
    """mmpretrain's ``TIMMBackbone`` for machines without the Hugging Face Hub.

    Everything is as in ``TIMMBackbone`` (``model_name``, ``features_only``,
    ``out_indices``, ``pretrained``, other timm arguments), plus:

    - ``weights_file``: with ``pretrained=True``, the pretrained weights are
      read from this local file (``.safetensors``, ``.pth``, ``.bin``, as
      timm reads them) instead of being downloaded;
    - with ``pretrained=True`` and no ``weights_file``, a failed download
      raises an error that names the file to fetch and where to put it,
      instead of a network traceback;
    - an unknown ``model_name`` raises ``ValueError`` before anything runs.

    Args:
        model_name (str): A timm model name (``timm.list_models()``).
        weights_file (str, optional): Local pretrained weights; needs
            ``pretrained=True``.
        **kwargs: ``TIMMBackbone`` and timm arguments.

    Shapes:
        - input: ``(B, in_channels, H, W)``.
        - output (``features_only=True``): one tensor per ``out_indices``
          entry, ``(B, C_i, H / s_i, W / s_i)`` with the channels ``C_i`` and
          strides ``s_i`` of ``self.timm_model.feature_info``; for timm's
          ResNets and ``out_indices=(1, 2, 3, 4)``: strides 4, 8, 16, 32.
    """

    def __init__(self,
                 model_name: str,
                 pretrained: bool = False,
                 weights_file: Optional[str] = None,
                 **kwargs) -> None:
        if not timm.is_model(model_name):
            raise ValueError(f'model_name {model_name!r} is not a timm model '
                             '(see timm.list_models())')
        if weights_file is not None:
            if not pretrained:
                raise ValueError('weights_file needs pretrained=True')
            if not osp.isfile(weights_file):
                raise FileNotFoundError(
                    f'weights_file does not exist: {weights_file!r}; '
                    f'download {_download_hint(model_name)} there')
            overlay = dict(kwargs.pop('pretrained_cfg_overlay', None) or {})
            overlay['file'] = weights_file
            kwargs['pretrained_cfg_overlay'] = overlay
        try:
            super().__init__(model_name, pretrained=pretrained, **kwargs)
        except Exception as e:
            if not pretrained or weights_file is not None:
                raise
            raise RuntimeError(
                f'could not get the pretrained weights of timm model '
                f'{model_name!r} ({type(e).__name__}: {e}). Without network '
                f'access: download {_download_hint(model_name)} on a machine '
                'that has it, copy the file here and set '
                "backbone.weights_file='/path/to/that/file' (keeping "
                'pretrained=True); or set pretrained=False to start from '
                'random weights.') from e
