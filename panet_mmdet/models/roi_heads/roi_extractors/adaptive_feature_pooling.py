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

from panet_mmdet.utils import check_choice, check_positive_int

_LAYER_TYPES = ('conv', 'fc')
_FUSIONS = ('max', 'sum')
_IMPLEMENTATIONS = ('auto', 'batched', 'loop')
# GN normalises contiguous channel groups, so one GN over the channel-
# concatenated levels equals one GN per level. (BN in training mode would
# too, but SyncBN must stay a module to synchronise: it runs in the loop.)
_BATCHABLE_NORMS = ('GN', )
_PLAIN_CONVS = (None, 'Conv', 'Conv2d')


class _FCLevelLayer(nn.Module):
    """``Linear(in -> out)``, optional norm, optional activation."""

    def __init__(self, in_features: int, out_features: int,
                 norm_cfg: OptConfigType, act_cfg: OptConfigType) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.norm = (
            build_norm_layer(norm_cfg, out_features)[1] if norm_cfg else None)
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
        implementation (str): How the per-level convs run; parameters and
            results are the same either way. ``'batched'``: the L convs as
            one grouped conv (weights concatenated at run time), with one
            GN call for all levels; ``'loop'``: one layer per level;
            ``'auto'`` (default): batched wherever that is exact (conv
            layers with no norm or GN, a plain conv and a parameter-free
            activation; see the README's extractor benchmark for why), the
            loop otherwise. fc layers always loop.
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
        check_choice('layer_type', layer_type, _LAYER_TYPES)
        check_choice('fusion', fusion, _FUSIONS)
        check_choice('implementation', implementation, _IMPLEMENTATIONS)
        if not featmap_strides:
            raise ValueError('featmap_strides must name at least one level, '
                             f'got {featmap_strides!r}')
        check_positive_int('out_channels', out_channels)
        check_positive_int('layer_channels', layer_channels)
        check_positive_int('kernel_size', kernel_size)
        if init_cfg is None and layer_type == 'fc':
            # as mmdet's fc box heads; ConvModule initialises itself
            init_cfg = dict(
                type='Xavier', layer='Linear', distribution='uniform')
        super().__init__(
            roi_layer=roi_layer,
            out_channels=out_channels,
            featmap_strides=featmap_strides,
            init_cfg=init_cfg)
        self.layer_type = layer_type
        self.layer_channels = layer_channels
        self.fusion = fusion
        out_size = self.roi_layers[0].output_size
        self.roi_size: Tuple[int, int] = ((out_size, out_size) if isinstance(
            out_size, int) else tuple(out_size))
        levels = len(featmap_strides)
        if layer_type == 'conv':
            self.level_layers = nn.ModuleList(
                ConvModule(
                    out_channels,
                    layer_channels,
                    kernel_size,
                    padding=kernel_size // 2,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg) for _ in range(levels))
        else:
            area = self.roi_size[0] * self.roi_size[1]
            self.level_layers = nn.ModuleList(
                _FCLevelLayer(out_channels *
                              area, layer_channels, norm_cfg, act_cfg)
                for _ in range(levels))
        batchable = self._conv_batch_is_exact(conv_cfg, norm_cfg)
        if implementation == 'batched' and not batchable:
            raise ValueError(
                "implementation='batched' needs layer_type='conv' with "
                'norm_cfg None or GN, a plain conv and a parameter-free '
                "activation; use implementation='loop' or 'auto'")
        if implementation == 'auto':
            implementation = 'batched' if batchable else 'loop'
        self.implementation = implementation

    def _conv_batch_is_exact(self, conv_cfg: OptConfigType,
                             norm_cfg: OptConfigType) -> bool:
        """Whether the L per-level ConvModules can run as one grouped conv,
        one GN call and one activation call with the same result."""
        if self.layer_type != 'conv':
            return False
        first = self.level_layers[0]
        conv_type = None if conv_cfg is None else conv_cfg.get('type')
        norm_ok = norm_cfg is None or norm_cfg['type'] in _BATCHABLE_NORMS
        act_ok = not (first.with_activation
                      and any(True for _ in first.activate.parameters()))
        return conv_type in _PLAIN_CONVS and norm_ok and act_ok

    # ------------------------------------------------------------------ pool
    def pool_all_levels(self, feats: Sequence[Tensor],
                        rois: Tensor) -> List[Tensor]:
        """RoIAlign of every RoI on every level: ``L x (n, C, S, S)``."""
        pooled = []
        for layer, feat in zip(self.roi_layers, feats):
            # mmcv's CPU RoIAlign reads the raw buffer as NCHW-contiguous: a
            # strided map (e.g. channels-last conv output) pools garbage
            feat = feat.contiguous()
            if feat.dtype == torch.bfloat16:
                # mmcv's RoIAlign has no bf16 kernel, on the CPU or CUDA:
                # pool in fp32, cast back.
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
        return self._fuse(
            torch.stack(
                [layer(x) for layer, x in zip(self.level_layers, pooled)]))

    def _batched_conv(self, pooled: List[Tensor]) -> Tensor:
        levels = len(pooled)
        n = pooled[0].shape[0]
        convs = [m.conv for m in self.level_layers]
        weight = torch.cat([c.weight for c in convs])
        bias = (
            torch.cat([c.bias
                       for c in convs]) if convs[0].bias is not None else None)
        x = F.conv2d(
            torch.cat(pooled, dim=1),
            weight,
            bias,
            padding=convs[0].padding,
            groups=levels)
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
        # a zero that depends on every parameter and every used level
        graph_link = sum(p.view(-1)[0] for p in self.parameters()) * 0.
        graph_link = graph_link + sum(f.sum() for f in feats) * 0.
        return out + graph_link.to(out.dtype)

    def _syncs_across_ranks(self) -> bool:
        """Whether a level layer holds SyncBN: every rank must then run the
        layers, with zero RoIs too (SyncBN takes empty batches), or the
        others wait for it in SyncBN's collective."""
        return any(
            isinstance(m, nn.SyncBatchNorm)
            for m in self.level_layers.modules())

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
        if rois.shape[0] == 0 and not self._syncs_across_ranks():
            return self.empty_output(feats)
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        pooled = self.pool_all_levels(feats, rois)
        if self.implementation == 'batched':
            return self._batched_conv(pooled)
        return self._loop(pooled)
