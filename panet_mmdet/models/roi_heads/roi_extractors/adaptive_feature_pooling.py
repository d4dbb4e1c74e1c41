"""PANet's adaptive feature pooling: every RoI from every level, then fuse."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmdet.models.roi_heads.roi_extractors import BaseRoIExtractor
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

LAYER_TYPES = ('conv', 'fc')
FUSIONS = ('max', 'sum')
IMPLEMENTATIONS = ('auto', 'batched', 'loop')
# GN normalises contiguous channel groups, so one GN over the channel-
# concatenated levels equals one GN per level. (BN in training mode would
# too, but SyncBN must stay a module to synchronise: it runs in the loop.)
_BATCHABLE_NORMS = ('GN', )


class _FCLevelLayer(nn.Module):
    """``Linear(in -> out)``, optional norm, optional activation."""

    def __init__(self, in_features: int, out_features: int,
                 norm_cfg: OptConfigType, act_cfg: OptConfigType) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.norm = (build_norm_layer(norm_cfg, out_features)[1]
                     if norm_cfg else None)
        self.activate = build_activation_layer(act_cfg) if act_cfg else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.fc(x.flatten(1))
        if self.norm is not None:
            x = self.norm(x)
        if self.activate is not None:
            x = self.activate(x)
        return x


@MODELS.register_module()
class AdaptiveFeaturePoolingRoIExtractor(BaseRoIExtractor):
    r"""Adaptive feature pooling (PANet, Liu et al., CVPR 2018, Sec. 3.2).

    Unlike ``SingleRoIExtractor``, which pools each RoI from the one level
    its size maps to, every RoI is pooled from *every* level
    :math:`l = 1..L` of ``featmap_strides``; each level's grid goes through
    its own, unshared parameter layer :math:`\phi_l`; the results are fused
    element-wise (PANet Fig. 6):

    .. math::

        F(r) = \mathrm{fuse}_{l=1..L}\; \phi_l\big(\mathrm{RoIAlign}(N_l, r)
        \big), \qquad \mathrm{fuse} \in \{\max, \sum\}.

    The rest of the branch stays a stock mmdet head:

    - mask branch, ``layer_type='conv'`` (the paper's conv1):
      ``FCNMaskHead(num_convs=3)`` (or PANet's fully-connected-fusion head);
    - 2fc box head, ``layer_type='fc'`` (the paper's fc1, 1024-d):
      ``ConvFCBBoxHead(num_shared_fcs=1, in_channels=1024, roi_feat_size=1)``;
    - heavier box head, ``layer_type='conv'``:
      ``ConvFCBBoxHead(num_shared_convs=3, num_shared_fcs=1)``.

    Args:
        roi_layer (dict): RoI op config as in mmdet, e.g.
            ``dict(type='RoIAlign', output_size=7, sampling_ratio=2)``.
        out_channels (int): Channels of the feature maps (what the RoI op
            returns), as in mmdet's extractors.
        featmap_strides (list[int]): Strides of the levels to pool from.
        layer_type (str): ``'conv'``: per level a ``ConvModule``
            (``kernel_size``, ``conv_cfg``, ``norm_cfg``, ``act_cfg``), output
            ``(n, layer_channels, S, S)``; ``'fc'``: per level
            ``Linear(out_channels*S*S -> layer_channels)``, optional norm and
            activation, output ``(n, layer_channels)``.
        layer_channels (int): Output channels (conv) or features (fc) of the
            per-level layer. Defaults to 256.
        kernel_size (int): Kernel of the per-level conv. Defaults to 3.
        conv_cfg, norm_cfg, act_cfg (dict, optional): Of the per-level layer.
            ``act_cfg`` defaults to ReLU, as in the paper.
        fusion (str): ``'max'`` (the paper's default) or ``'sum'``.
        implementation (str): ``'batched'`` runs the L per-level convs as one
            grouped conv (weights concatenated at run time) and the L fc
            layers as one batched matmul; ``'loop'`` runs one layer per level;
            ``'auto'`` (default) picks by measurement
            (``tools/benchmarks/benchmark_roi_extractor.py``, README): the
            batched conv (same speed as the loop on CPU, about 23% less
            activation memory) and the looped fc (the batched fc is no
            faster and holds a stacked copy of the weights); it falls back
            to the loop where batching would not be exact (conv norms other
            than GN, activations with parameters).
            Parameters are the same either way.
        init_cfg (dict, optional): Initialisation config.

    Shapes:
        - feats: ``L`` (or more; the first ``L`` are used) tensors
          ``(B, out_channels, H_l, W_l)``.
        - rois: ``(n, 5)``, ``(batch_index, x1, y1, x2, y2)`` in image pixels.
        - returns: ``(n, layer_channels, S, S)`` for conv, ``(n,
          layer_channels)`` for fc, in the features' dtype; ``n`` may be 0.
    """

    def __init__(self,
                 roi_layer: ConfigType,
                 out_channels: int,
                 featmap_strides: List[int],
                 layer_type: str = 'conv',
                 layer_channels: int = 256,
                 kernel_size: int = 3,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 fusion: str = 'max',
                 implementation: str = 'auto',
                 init_cfg: OptMultiConfig = None) -> None:
        if layer_type not in LAYER_TYPES:
            raise ValueError(f'layer_type must be one of {LAYER_TYPES}, got '
                             f'{layer_type!r}')
        if fusion not in FUSIONS:
            raise ValueError(f'fusion must be one of {FUSIONS}, got '
                             f'{fusion!r}')
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f'implementation must be one of '
                             f'{IMPLEMENTATIONS}, got {implementation!r}')
        if not featmap_strides:
            raise ValueError('featmap_strides must name at least one level, '
                             f'got {featmap_strides!r}')
        for name, value in (('out_channels', out_channels),
                            ('layer_channels', layer_channels),
                            ('kernel_size', kernel_size)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f'{name} must be a positive int, got '
                                 f'{value!r}')
        if init_cfg is None and layer_type == 'fc':
            # as mmdet's fc box heads; ConvModule initialises itself
            init_cfg = dict(type='Xavier', layer='Linear',
                            distribution='uniform')
        super().__init__(roi_layer=roi_layer, out_channels=out_channels,
                         featmap_strides=featmap_strides, init_cfg=init_cfg)
        self.layer_type = layer_type
        self.layer_channels = layer_channels
        self.fusion = fusion
        out_size = self.roi_layers[0].output_size
        self.roi_size: Tuple[int, int] = ((out_size, out_size) if isinstance(
            out_size, int) else tuple(out_size))
        levels = len(featmap_strides)
        if layer_type == 'conv':
            self.level_layers = nn.ModuleList(
                ConvModule(out_channels, layer_channels, kernel_size,
                           padding=kernel_size // 2, conv_cfg=conv_cfg,
                           norm_cfg=norm_cfg, act_cfg=act_cfg)
                for _ in range(levels))
        else:
            area = self.roi_size[0] * self.roi_size[1]
            self.level_layers = nn.ModuleList(
                _FCLevelLayer(out_channels * area, layer_channels, norm_cfg,
                              act_cfg) for _ in range(levels))
        # The fc path applies each level's norm module itself; the conv path
        # folds the norm into one functional GN call.
        norm_ok = (layer_type == 'fc' or norm_cfg is None
                   or norm_cfg['type'] in _BATCHABLE_NORMS)
        conv_ok = conv_cfg is None or conv_cfg.get('type') in ('Conv',
                                                               'Conv2d')
        act_ok = not any(name.startswith('activate')
                         for name, _ in self.level_layers[0].named_parameters())
        batchable = norm_ok and conv_ok and act_ok
        if implementation == 'batched' and not batchable:
            raise ValueError(
                "implementation='batched' needs norm_cfg None or GN, a plain "
                'conv and a parameter-free activation; use '
                "implementation='loop' or 'auto'")
        if implementation == 'auto':
            # measured (README): batched conv saves ~23% activation memory at
            # the loop's speed; batched fc saves no time and stacks weights
            implementation = ('batched' if batchable and layer_type == 'conv'
                              else 'loop')
        self.implementation = implementation

    # ------------------------------------------------------------------ pool
    def pool_all_levels(self, feats: Sequence[Tensor],
                        rois: Tensor) -> List[Tensor]:
        """RoIAlign of every RoI on every level: ``L x (n, C, S, S)``."""
        pooled = []
        for layer, feat in zip(self.roi_layers, feats):
            if feat.dtype == torch.bfloat16 and feat.device.type == 'cpu':
                # mmcv's CPU kernel has no bf16: pool in fp32, cast back.
                pooled.append(layer(feat.float(), rois.float()).to(feat.dtype))
            else:
                pooled.append(layer(feat, rois.to(feat.dtype)))
        return pooled

    # ------------------------------------------------------------- per level
    def _fuse(self, per_level: Tensor) -> Tensor:
        """(L, n, ...) -> (n, ...) by the configured element-wise fusion."""
        if self.fusion == 'max':
            return per_level.amax(dim=0)
        return per_level.sum(dim=0)

    def _loop(self, pooled: List[Tensor]) -> Tensor:
        return self._fuse(torch.stack(
            [layer(x) for layer, x in zip(self.level_layers, pooled)]))

    def _batched_conv(self, pooled: List[Tensor]) -> Tensor:
        levels = len(pooled)
        n = pooled[0].shape[0]
        convs = [m.conv for m in self.level_layers]
        weight = torch.cat([c.weight for c in convs])
        bias = (torch.cat([c.bias for c in convs])
                if convs[0].bias is not None else None)
        x = F.conv2d(torch.cat(pooled, dim=1), weight, bias,
                     padding=convs[0].padding, groups=levels)
        first = self.level_layers[0]
        if first.with_norm:
            norms = [m.norm for m in self.level_layers]
            gamma = torch.cat([m.weight for m in norms])
            beta = torch.cat([m.bias for m in norms])
            # GN over L*G contiguous groups == GN(G) on each level's channels
            x = F.group_norm(x, levels * norms[0].num_groups, gamma, beta,
                             norms[0].eps)
        if first.with_activation:
            x = first.activate(x)
        return self._fuse(x.view(n, levels, -1, *x.shape[2:]).transpose(0, 1))

    def _batched_fc(self, pooled: List[Tensor]) -> Tensor:
        fcs = [m.fc for m in self.level_layers]
        x = torch.stack([p.flatten(1) for p in pooled])  # (L, n, C*S*S)
        weight = torch.stack([fc.weight for fc in fcs])  # (L, d, C*S*S)
        bias = torch.stack([fc.bias for fc in fcs]).unsqueeze(1)  # (L, 1, d)
        y = torch.baddbmm(bias, x, weight.transpose(1, 2))  # (L, n, d)
        first = self.level_layers[0]
        if first.norm is not None:
            y = torch.stack([m.norm(t) for m, t in zip(self.level_layers, y)])
        if first.activate is not None:
            y = first.activate(y)
        return self._fuse(y)

    # --------------------------------------------------------------- forward
    def _check(self, feats: Sequence[Tensor], rois: Tensor) -> None:
        if len(feats) < self.num_inputs:
            raise ValueError(
                f'got {len(feats)} feature maps for featmap_strides '
                f'{self.featmap_strides} ({self.num_inputs} levels)')
        channels = [int(f.shape[1]) for f in feats[:self.num_inputs]]
        if any(c != self.out_channels for c in channels):
            raise ValueError(f'feature map channels {channels} do not match '
                             f'out_channels={self.out_channels}')
        if rois.dim() != 2 or rois.shape[1] != 5:
            raise ValueError('rois must be (n, 5) as (batch_index, x1, y1, '
                             f'x2, y2), got shape {tuple(rois.shape)}')

    def empty_output(self, feats: Sequence[Tensor]) -> Tensor:
        """``(0, ...)`` output for zero RoIs, still connected to every
        parameter and to ``feats`` (the used levels), so DDP sees them all
        used."""
        if self.layer_type == 'conv':
            shape = (0, self.layer_channels, *self.roi_size)
        else:
            shape = (0, self.layer_channels)
        out = feats[0].new_zeros(shape)
        anchor = sum(p.view(-1)[0] for p in self.parameters()) * 0.
        anchor = anchor + sum(f.sum() for f in feats) * 0.
        return out + anchor.to(out.dtype)

    def forward(self,
                feats: Tuple[Tensor],
                rois: Tensor,
                roi_scale_factor: Optional[float] = None) -> Tensor:
        """Pool every RoI from every level, per-level layer, fuse.

        Args:
            feats (tuple[Tensor]): ``(B, out_channels, H_l, W_l)`` per level.
            rois (Tensor): ``(n, 5)`` boxes ``(batch_index, x1, y1, x2, y2)``.
            roi_scale_factor (float, optional): Scale each RoI about its
                centre before pooling, as mmdet's extractors do.

        Returns:
            Tensor: ``(n, layer_channels, S, S)`` (conv) or
            ``(n, layer_channels)`` (fc).
        """
        self._check(feats, rois)
        feats = feats[:self.num_inputs]
        if rois.shape[0] == 0:
            return self.empty_output(feats)
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        pooled = self.pool_all_levels(feats, rois)
        if self.implementation == 'loop':
            return self._loop(pooled)
        if self.layer_type == 'conv':
            return self._batched_conv(pooled)
        return self._batched_fc(pooled)
