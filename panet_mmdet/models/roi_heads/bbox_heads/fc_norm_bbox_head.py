"""ConvFCBBoxHead with a norm after each shared fc (the authors' 2fc GN
head)."""
from mmcv.cnn import build_norm_layer
from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import Tensor, nn


@MODELS.register_module()
class FCNormConvFCBBoxHead(ConvFCBBoxHead):
    """``ConvFCBBoxHead`` whose shared fcs are ``Linear -> norm -> ReLU``.

    The authors' 2fc box head with GroupNorm
    (``PANet:lib/modeling/fast_rcnn_heads.py roi_2mlp_head_gn_panet``) has
    a GN(32) after each fc; mmdet's fc heads have no norm on fcs. With
    :class:`~panet_mmdet.models.AdaptiveFeaturePoolingRoIExtractor`
    (``layer_type='fc'``, ``norm_cfg=GN``) doing the per-level fc1, this head
    with ``num_shared_fcs=1, in_channels=1024, roi_feat_size=1`` is their
    fc2. Separate cls/reg branches are not supported (the authors have
    none).

    Args:
        fc_norm_cfg (dict): norm after each shared fc, e.g.
            ``dict(type='GN', num_groups=32)``.
        **kwargs: ``ConvFCBBoxHead`` arguments.

    Shapes:
        - x: ``(n, in_channels, S, S)``, or ``(n, in_channels)`` with
          ``roi_feat_size=1``.
        - returns: ``cls_score (n, num_classes + 1)``, ``bbox_pred (n, 4 *
          num_classes)`` (class-specific).
    """

    def __init__(self, *args, fc_norm_cfg: ConfigType, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(fc_norm_cfg, dict) or 'type' not in fc_norm_cfg:
            raise ValueError('fc_norm_cfg must be a norm config dict such as '
                             f"dict(type='GN', num_groups=32), got "
                             f'{fc_norm_cfg!r}')
        if self.num_shared_fcs < 1:
            raise ValueError('FCNormConvFCBBoxHead needs num_shared_fcs >= 1,'
                             f' got {self.num_shared_fcs}')
        if (self.num_cls_convs or self.num_cls_fcs or self.num_reg_convs
                or self.num_reg_fcs):
            raise ValueError('FCNormConvFCBBoxHead has no separate cls/reg '
                             'branches: num_cls_convs, num_cls_fcs, '
                             'num_reg_convs and num_reg_fcs must be 0')
        self.fc_norm_cfg = fc_norm_cfg
        self.shared_fc_norms = nn.ModuleList(
            build_norm_layer(fc_norm_cfg, self.fc_out_channels)[1]
            for _ in range(self.num_shared_fcs))

    def forward(self, x: Tensor) -> tuple:
        for conv in self.shared_convs:
            x = conv(x)
        if self.with_avg_pool:
            x = self.avg_pool(x)
        x = x.flatten(1)
        for fc, norm in zip(self.shared_fcs, self.shared_fc_norms):
            x = self.relu(norm(fc(x)))
        cls_score = self.fc_cls(x) if self.with_cls else None
        bbox_pred = self.fc_reg(x) if self.with_reg else None
        return cls_score, bbox_pred
