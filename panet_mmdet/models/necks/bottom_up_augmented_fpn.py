"""PANet's neck: FPN followed by the paper's bottom-up path augmentation."""
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.necks import FPN
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, MultiConfig, OptConfigType
from torch import Tensor

from panet_mmdet.utils import check_choice, check_positive_int

_DOWNSAMPLE_MODES = ('conv', 'maxpool')
_FUSION_MODES = ('add', 'concat')
_EXTRA_CONV_SOURCES = ('on_input', 'on_lateral', 'on_output')
_AS_FPN = 'as_fpn'


def _check_fpn_args(in_channels, out_channels, num_outs, start_level,
                    end_level, add_extra_convs) -> None:
    """``ValueError`` naming the argument where ``FPN.__init__`` has a bare
    ``assert`` (or none: start_level, out_channels)."""
    if (not isinstance(in_channels, (list, tuple)) or not in_channels
            or not all(isinstance(c, int) and c > 0 for c in in_channels)):
        raise ValueError('in_channels must be a non-empty list of positive '
                         f'ints (one per backbone level), got {in_channels!r}')
    check_positive_int('out_channels', out_channels)
    last = len(in_channels) - 1
    check_choice('start_level', start_level, range(last + 1), 'in')
    if end_level not in (-1, last):
        check_choice('end_level', end_level, range(start_level, last + 1),
                     '-1 or in')
        last = end_level
    used = last - start_level + 1
    if last == len(in_channels) - 1 and num_outs < used:
        raise ValueError(f'num_outs must be >= the {used} used backbone '
                         f'levels, got {num_outs}')
    if last != len(in_channels) - 1 and num_outs != used:
        raise ValueError(f'num_outs must equal end_level - start_level + 1 = '
                         f'{used} when end_level is set, got {num_outs}')
    if not isinstance(add_extra_convs, bool):
        check_choice('add_extra_convs', add_extra_convs, _EXTRA_CONV_SOURCES,
                     'a bool or one of')


@MODELS.register_module()
class BottomUpAugmentedFPN(FPN):
    r"""FPN plus PANet's bottom-up path augmentation (Liu et al., CVPR 2018).

    `Path Aggregation Network for Instance Segmentation
    <https://arxiv.org/abs/1803.01534>`_, Sec. 3.1 and Fig. 2: starting from
    the FPN outputs :math:`P_2 \dots P_5`,

    .. math::

        N_2 = P_2, \qquad
        N_{i+1} = \mathrm{conv}_{3\times3}\big(
            \mathrm{down}(N_i) + P_{i+1}\big),

    where :math:`\mathrm{down}` is a 3x3 stride-2 conv. The stride-2 conv
    reads the *output* :math:`N_i` of the previous step, so every parameter
    that shapes :math:`N_i` also shapes :math:`N_{i+1}`. This is where it
    differs from mmdet's ``PAFPN``, which feeds the sum before the 3x3 conv
    to the next stride-2 conv (and, by default, has no activation after its
    path-aggregation convs).

    Extra levels (``num_outs`` beyond the backbone levels) are built exactly
    as ``FPN`` builds them, from the augmented outputs: max-pool (kernel 1,
    stride 2) of the last :math:`N` when ``add_extra_convs=False``, and the
    extra convs on the input, lateral or last :math:`N` otherwise. So this
    neck takes every ``FPN`` argument and replaces ``FPN`` in any mmdet
    detector by changing ``neck.type``.

    Args:
        in_channels, out_channels, num_outs, start_level, end_level,
        add_extra_convs, relu_before_extra_convs, no_norm_on_lateral,
        conv_cfg, norm_cfg, act_cfg, upsample_cfg, init_cfg: As in ``FPN``
            (they build its laterals, top-down path and extra levels;
            ``conv_cfg`` the path-augmentation convs too).
        downsample (str): How :math:`N_i` is brought to the next stride:
            ``'conv'`` (3x3 stride-2 ``ConvModule``, the paper) or
            ``'maxpool'`` (3x3 stride-2 max-pool, no parameters).
        fusion (str): How the down-sampled :math:`N_i` and :math:`P_{i+1}`
            are merged: ``'add'`` (the paper) or ``'concat'`` (channel
            concatenation followed by a 1x1 ``ConvModule`` back to
            ``out_channels``).
        pa_norm_cfg (dict, optional): ``norm_cfg`` of the path-augmentation
            convs. Defaults to ``'as_fpn'`` (``norm_cfg``: GN or SyncBN there
            gives the paper's / authors' setting); ``None`` for no norm.
        pa_act_cfg (dict, optional): ``act_cfg`` of the path-augmentation
            convs. Defaults to ReLU (the paper: every conv is followed by a
            ReLU); ``None`` for none.
        pa_bias (bool | str): ``bias`` of the path-augmentation convs, as
            ``ConvModule`` takes it: ``'auto'`` (a bias only without a
            norm, the default) or a bool. The authors' GN code has a bias
            before each GN (``PANet:lib/modeling/FPN.py``,
            ``panet_buttomup_conv{1,2}_modules``); GN normalises groups of
            channels jointly, so that bias is not absorbed by GN's affine
            and converted checkpoints need ``pa_bias=True``.

    Shapes:
        - inputs: tuple of ``len(in_channels)`` tensors,
          ``(B, in_channels[i], H_i, W_i)``.
        - outputs: tuple of ``num_outs`` tensors ``(B, out_channels, h_j,
          w_j)``; the sizes equal ``FPN``'s for the same inputs.

    Example:
        >>> import torch
        >>> in_channels = [64, 128, 256, 512]
        >>> inputs = [torch.rand(1, c, s, s)
        ...           for c, s in zip(in_channels, [84, 42, 21, 11])]
        >>> neck = BottomUpAugmentedFPN(in_channels, 32, num_outs=5).eval()
        >>> for o in neck(inputs):
        ...     print(tuple(o.shape))
        (1, 32, 84, 84)
        (1, 32, 42, 42)
        (1, 32, 21, 21)
        (1, 32, 11, 11)
        (1, 32, 6, 6)
    """

    def __init__(
        self,
        in_channels: List[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: Union[bool, str] = False,
        relu_before_extra_convs: bool = False,
        no_norm_on_lateral: bool = False,
        conv_cfg: OptConfigType = None,
        norm_cfg: OptConfigType = None,
        act_cfg: OptConfigType = None,
        upsample_cfg: ConfigType = dict(mode='nearest'),
        downsample: str = 'conv',
        fusion: str = 'add',
        pa_norm_cfg: Union[str, OptConfigType] = _AS_FPN,
        pa_act_cfg: OptConfigType = dict(type='ReLU'),
        pa_bias: Union[bool, str] = 'auto',
        init_cfg: MultiConfig = dict(
            type='Xavier', layer='Conv2d', distribution='uniform')
    ) -> None:
        _check_fpn_args(in_channels, out_channels, num_outs, start_level,
                        end_level, add_extra_convs)
        check_choice('downsample', downsample, _DOWNSAMPLE_MODES)
        check_choice('fusion', fusion, _FUSION_MODES)
        if isinstance(pa_norm_cfg, str) and pa_norm_cfg != _AS_FPN:
            raise ValueError(f"pa_norm_cfg must be a dict, None or "
                             f"'{_AS_FPN}', got {pa_norm_cfg!r}")
        if not (isinstance(pa_bias, bool) or pa_bias == 'auto'):
            raise ValueError(
                f"pa_bias must be a bool or 'auto', got {pa_bias!r}")
        super().__init__(
            in_channels=list(in_channels),
            out_channels=out_channels,
            num_outs=num_outs,
            start_level=start_level,
            end_level=end_level,
            add_extra_convs=add_extra_convs,
            relu_before_extra_convs=relu_before_extra_convs,
            no_norm_on_lateral=no_norm_on_lateral,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            upsample_cfg=upsample_cfg,
            init_cfg=init_cfg)
        self.downsample = downsample
        self.fusion = fusion
        pa_cfg = dict(
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg if pa_norm_cfg == _AS_FPN else pa_norm_cfg,
            act_cfg=pa_act_cfg,
            bias=pa_bias,
            # Safe in place: each PA conv's output feeds nothing else first.
            inplace=True)

        num_levels = self.backbone_end_level - self.start_level
        # One of each per step N_i -> N_{i+1}.
        self.downsample_convs = nn.ModuleList()
        self.fusion_convs = nn.ModuleList()
        self.pa_convs = nn.ModuleList()
        for _ in range(num_levels - 1):
            if downsample == 'conv':
                self.downsample_convs.append(
                    ConvModule(
                        out_channels,
                        out_channels,
                        3,
                        stride=2,
                        padding=1,
                        **pa_cfg))
            if fusion == 'concat':
                self.fusion_convs.append(
                    ConvModule(2 * out_channels, out_channels, 1, **pa_cfg))
            self.pa_convs.append(
                ConvModule(out_channels, out_channels, 3, padding=1, **pa_cfg))

    def _check_inputs(self, inputs: Sequence[Tensor]) -> None:
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f'{type(self).__name__} got {len(inputs)} feature maps but '
                f'in_channels has {len(self.in_channels)} entries '
                f'{self.in_channels}')
        got = [int(x.shape[1]) for x in inputs]
        if got != list(self.in_channels):
            raise ValueError(f'feature map channels {got} do not match '
                             f'in_channels {self.in_channels}')

    def top_down(
            self,
            inputs: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """FPN's lateral and top-down path (unchanged).

        Returns:
            tuple: ``laterals`` (after the top-down sums) and ``P``, the
            outputs of FPN's 3x3 convs, one per used backbone level.
        """
        laterals = [
            lateral_conv(inputs[i + self.start_level])
            for i, lateral_conv in enumerate(self.lateral_convs)
        ]
        for i in range(len(laterals) - 1, 0, -1):
            if 'scale_factor' in self.upsample_cfg:
                up = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                up = F.interpolate(
                    laterals[i],
                    size=laterals[i - 1].shape[2:],
                    **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + up
        outs = [self.fpn_convs[i](laterals[i]) for i in range(len(laterals))]
        return laterals, outs

    def _down(self, i: int, x: Tensor, size: torch.Size) -> Tensor:
        if self.downsample == 'conv':
            x = self.downsample_convs[i](x)
        else:
            x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        if x.shape[2:] != size:
            # Backbones whose strides do not halve with ceil rounding.
            x = F.interpolate(x, size=size, mode='nearest')
        return x

    def bottom_up(self, p: Sequence[Tensor]) -> List[Tensor]:
        """PANet Eq. (Sec. 3.1): ``N_2 = P_2``,
        ``N_{i+1} = conv3x3(down(N_i) (+) P_{i+1})``.

        Args:
            p: FPN outputs, finest first, ``(B, C, H_i, W_i)``.

        Returns:
            list[Tensor]: ``N``, same shapes as ``p``.
        """
        n = [p[0]]
        for i in range(len(p) - 1):
            down = self._down(i, n[i], p[i + 1].shape[2:])
            if self.fusion == 'add':
                fused = down + p[i + 1]
            else:
                fused = self.fusion_convs[i](torch.cat([down, p[i + 1]], 1))
            n.append(self.pa_convs[i](fused))
        return n

    def extra_levels(self, inputs: Sequence[Tensor], laterals: List[Tensor],
                     outs: List[Tensor]) -> List[Tensor]:
        """FPN's extra levels, built on ``outs`` (the augmented pyramid)."""
        outs = list(outs)
        used = len(outs)
        if self.num_outs <= used:
            return outs
        if not self.add_extra_convs:
            for _ in range(self.num_outs - used):
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            return outs
        if self.add_extra_convs == 'on_input':
            source = inputs[self.backbone_end_level - 1]
        elif self.add_extra_convs == 'on_lateral':
            source = laterals[-1]
        else:  # 'on_output'
            source = outs[-1]
        outs.append(self.fpn_convs[used](source))
        for i in range(used + 1, self.num_outs):
            x = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
            outs.append(self.fpn_convs[i](x))
        return outs

    def forward(self, inputs: Tuple[Tensor]) -> tuple:
        """FPN top-down path, bottom-up augmentation, then extra levels.

        Args:
            inputs (tuple[Tensor]): backbone features ``(B, in_channels[i],
                H_i, W_i)``, finest first.

        Returns:
            tuple[Tensor]: ``num_outs`` maps ``(B, out_channels, h, w)``:
            :math:`N_{start} \\dots N_{end}` then the extra levels.
        """
        self._check_inputs(inputs)
        laterals, p = self.top_down(inputs)
        n = self.bottom_up(p)
        return tuple(self.extra_levels(inputs, laterals, n))
