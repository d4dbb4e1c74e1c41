# Full PANet for the embedded demo data: the stock demo Mask R-CNN
# (./mask-rcnn_r18_fpn_gn_demo.py, same data, widths and schedule) with
#   - the bottom-up path augmentation neck,
#   - adaptive feature pooling on both branches (per-level conv + max),
#   - the heavier box head (per-level conv in the extractor + 3 shared convs
#     + 1 fc),
#   - fully-connected fusion in the mask head (3 convs after the extractor's
#     conv1; the fc path branches from the paper's conv3 = this head's conv 2),
#   - GroupNorm in neck and heads, RoIAlign sampling ratio 2.
_base_ = './mask-rcnn_r18_fpn_gn_demo.py'

norm_cfg = dict(type='GN', num_groups=16, requires_grad=True)
width = 128
# adaptive feature pooling for both branches: per-level conv3x3 + GN + ReLU,
# then element-wise max
afp = dict(
    type='AdaptiveFeaturePoolingRoIExtractor',
    roi_layer=dict(sampling_ratio=2),
    layer_type='conv',
    layer_channels=width,
    norm_cfg=norm_cfg,
    fusion='max')
model = dict(
    neck=dict(type='BottomUpAugmentedFPN'),  # PA convs: GN (as FPN) + ReLU
    roi_head=dict(
        bbox_roi_extractor=afp,
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=3,
            num_shared_fcs=1,
            conv_out_channels=width,
            norm_cfg=norm_cfg),
        mask_roi_extractor=afp,
        mask_head=dict(
            type='FullyConnectedFusionMaskHead',
            num_convs=3,
            fc_branch_from=2,
            num_fc_convs=2,
            fc_relu=True)))
