# Full PANet Mask R-CNN model, ResNet-50, as in the paper (Liu et al., CVPR
# 2018) and the authors' GroupNorm code; mmdet's Mask R-CNN model otherwise
# (mmdet::_base_/models/mask-rcnn_r50_fpn.py: its backbone with torchvision
# ImageNet weights and frozen BN, RPN, train/test settings, 80 classes):
#   - BottomUpAugmentedFPN: bottom-up path augmentation, GN + ReLU in its convs
#   - AdaptiveFeaturePoolingRoIExtractor on both branches: every RoI pooled
#     from N2..N5, one conv3x3 + GN + ReLU per level, element-wise max
#   - heavier box head: 3 shared convs + 1 fc (1024) after the per-level conv
#   - FullyConnectedFusionMaskHead: conv2..conv4 + deconv, fc path from the
#     paper's conv3 (this head's conv 2), ReLU after the fc (authors' code)
#   - GN in neck and heads; RoIAlign sampling ratio 2
# Configs combine it with a dataset, a schedule and mmdet's runtime, as
# mmdet's own configs combine its _base_/models/ files.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['panet_mmdet'], allow_failed_imports=False)

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
# adaptive feature pooling, as used by both branches: per-level conv3x3 + GN
# + ReLU (the paper's conv1 / the heavier head's first conv), then max
afp = dict(
    type='AdaptiveFeaturePoolingRoIExtractor',
    layer_type='conv',
    layer_channels=256,
    norm_cfg=norm_cfg,
    fusion='max')
model = dict(
    neck=dict(type='BottomUpAugmentedFPN', norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_roi_extractor=dict(
            **afp,
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2)),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=3,
            num_shared_fcs=1,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            norm_cfg=norm_cfg),
        mask_roi_extractor=dict(
            **afp,
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=2)),
        mask_head=dict(
            type='FullyConnectedFusionMaskHead',
            num_convs=3,
            fc_branch_from=2,
            num_fc_convs=2,
            fc_relu=True,
            norm_cfg=norm_cfg)))
