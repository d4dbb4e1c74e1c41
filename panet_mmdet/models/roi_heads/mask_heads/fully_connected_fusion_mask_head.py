"""PANet's mask head: FCN logits plus a class-agnostic fc foreground map."""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class FullyConnectedFusionMaskHead(FCNMaskHead):
    r"""Mask head with fully-connected fusion (PANet, CVPR 2018, Sec. 3.3).

    The FCN path is ``FCNMaskHead``'s: ``num_convs`` 3x3 convs, upsampling,
    1x1 per-class logits of size ``M x M``. A short path branches from the
    output of conv ``fc_branch_from``: ``num_fc_convs`` 3x3 convs (the last
    one halving the channels, the paper's conv4_fc and conv5_fc), one fc to
    ``M*M`` outputs, reshaped to ``(n, 1, M, M)`` and *added* to every class's
    logits (PANet Fig. 4):

    .. math::

        \mathrm{logits}_k = \mathrm{FCN}_k(x) + \mathrm{reshape}\big(
            \mathrm{fc}(\mathrm{conv5\_fc}(\mathrm{conv4\_fc}(
            \mathrm{conv3}(x))))\big), \quad k = 1..K.

    The output contract of ``FCNMaskHead`` is kept, so mmdet's mask targets,
    loss (per-class sigmoid BCE on the ground-truth class) and
    ``predict_by_feat`` work unchanged.

    Args:
        fc_branch_from (int, optional): 1-based index of the conv of *this
            head* whose output feeds the fc path. The paper branches from
            conv3. With a stock RoI extractor the head has 4 convs and that
            is ``3``; after ``AdaptiveFeaturePoolingRoIExtractor``, which
            already applied the paper's conv1, the head has 3 convs and the
            paper's conv3 is this head's ``2``. Defaults to
            ``num_convs - 1``, which is the paper's conv3 in both cases.
        num_fc_convs (int): Convs on the fc path, >= 1. The last halves the
            channels (``conv_out_channels // 2``). Defaults to 2.
        fc_relu (bool): Whether a ReLU follows the fc (the authors' code has
            one, making the added map >= 0; the paper does not say).
            Defaults to True.
        **kwargs: ``FCNMaskHead`` arguments (``num_convs``, ``roi_feat_size``
            (the input grid S; the fc reads ``S*S`` positions),
            ``upsample_cfg``, ``norm_cfg``, ``class_agnostic``, ...).

    Shapes:
        - x: ``(n, in_channels, S, S)`` with ``S = roi_feat_size``.
        - returns: ``(n, num_classes, M, M)`` logits (``(n, 1, M, M)`` when
          class-agnostic), ``M = S * scale_factor`` (``S`` without
          upsampling).

    Example:
        >>> import torch
        >>> head = FullyConnectedFusionMaskHead(
        ...     num_convs=3, in_channels=16, conv_out_channels=16,
        ...     num_classes=5)
        >>> head(torch.rand(2, 16, 14, 14)).shape
        torch.Size([2, 5, 28, 28])
    """

    def __init__(self,
                 *args,
                 fc_branch_from: Optional[int] = None,
                 num_fc_convs: int = 2,
                 fc_relu: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.num_convs < 1:
            raise ValueError('num_convs must be >= 1 for the fc path to '
                             f'branch from a conv, got {self.num_convs}')
        if fc_branch_from is None:
            fc_branch_from = max(self.num_convs - 1, 1)
        if not isinstance(fc_branch_from,
                          int) or not (1 <= fc_branch_from <= self.num_convs):
            raise ValueError(
                f'fc_branch_from must be a conv index in [1, num_convs='
                f'{self.num_convs}], got {fc_branch_from!r}')
        if not isinstance(num_fc_convs, int) or num_fc_convs < 1:
            raise ValueError(f'num_fc_convs must be an int >= 1, got '
                             f'{num_fc_convs!r}')
        half = self.conv_out_channels // 2
        if half < 1:
            raise ValueError(
                'conv_out_channels // 2 (the channels of the last fc-path '
                f'conv) must be >= 1, got conv_out_channels='
                f'{self.conv_out_channels}')
        self.fc_branch_from = fc_branch_from
        self.num_fc_convs = num_fc_convs
        self.fc_relu = fc_relu
        self.mask_size = self._mask_size()

        self.fc_convs = nn.ModuleList()
        for i in range(num_fc_convs):
            last = i == num_fc_convs - 1
            self.fc_convs.append(
                ConvModule(
                    self.conv_out_channels,
                    half if last else self.conv_out_channels,
                    self.conv_kernel_size,
                    padding=(self.conv_kernel_size - 1) // 2,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg))
        s_h, s_w = self.roi_feat_size
        self.fc_logits = nn.Linear(half * s_h * s_w,
                                   self.mask_size[0] * self.mask_size[1])

    def _mask_size(self):
        """M: the FCN path's output size from roi_feat_size and upsampling."""
        h, w = self.roi_feat_size
        if self.upsample is None:
            return h, w
        return h * self.scale_factor, w * self.scale_factor

    def init_weights(self) -> None:
        """FCNMaskHead's init, then the fc: normal(0, 0.01), bias 0 (as in
        the paper's reference code)."""
        super().init_weights()
        nn.init.normal_(self.fc_logits.weight, mean=0., std=0.01)
        nn.init.constant_(self.fc_logits.bias, 0.)

    def fc_path(self, x: Tensor) -> Tensor:
        """The short path: ``(n, C, S, S)`` -> ``(n, 1, M, M)``."""
        for conv in self.fc_convs:
            x = conv(x)
        x = self.fc_logits(x.flatten(1))
        if self.fc_relu:
            x = self.relu(x)
        return x.view(x.shape[0], 1, *self.mask_size)

    def forward(self, x: Tensor) -> Tensor:
        """FCN logits plus the broadcast fc map.

        Args:
            x (Tensor): RoI features ``(n, in_channels, S, S)``.

        Returns:
            Tensor: ``(n, num_classes or 1, M, M)`` mask logits.
        """
        if tuple(x.shape[2:]) != tuple(self.roi_feat_size):
            raise ValueError(
                f'{type(self).__name__} expects RoI features of size '
                f'roi_feat_size={tuple(self.roi_feat_size)} (its fc reads '
                f'every position), got {tuple(x.shape[2:])}')
        branch = None
        for i, conv in enumerate(self.convs, start=1):
            x = conv(x)
            if i == self.fc_branch_from:
                branch = x
        if self.upsample is not None:
            x = self.upsample(x)
            if self.upsample_method == 'deconv':
                x = self.relu(x)
        mask_preds = self.conv_logits(x)
        return mask_preds + self.fc_path(branch)
