# The PANet demo model: the stock demo Mask R-CNN
# (./mask-rcnn_r18_fpn-gn_demo.py: same backbone, widths, RPN, sampling and
# test settings) with PANet's neck
# and heads, as ./panet_r50_bufpn-gn.py is mmdet's Mask R-CNN with them:
#   - BottomUpAugmentedFPN: bottom-up path augmentation, GN + ReLU in its convs
#   - AdaptiveFeaturePoolingRoIExtractor on both branches: every RoI pooled
#     from N2..N5, one conv3x3 + GN + ReLU per level, element-wise max
#   - heavier box head: 3 shared convs + 1 fc after the per-level conv
#   - FullyConnectedFusionMaskHead: 3 convs after the extractor's conv1 (the
#     fc path branches from the paper's conv3 = this head's conv 2), ReLU
#     after the fc (authors' code)
#   - GN in neck and heads, RoIAlign sampling ratio 2
# configs/demo/ablations/ adds these to the stock demo one at a time.
_base_ = './mask-rcnn_r18_fpn-gn_demo.py'

norm_cfg = dict(type='GN', num_groups=16, requires_grad=True)
width = 64
# adaptive feature pooling, as used by both branches: per-level conv3x3 + GN
# + ReLU (the paper's conv1 / the heavier head's first conv), then max
afp = dict(
    type='AdaptiveFeaturePoolingRoIExtractor',
    layer_type='conv',
    layer_channels=width,
    norm_cfg=norm_cfg,
    fusion='max')
model = dict(
    neck=dict(type='BottomUpAugmentedFPN'),
    roi_head=dict(
        bbox_roi_extractor=afp,
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=3,
            num_shared_fcs=1,
            in_channels=width,
            roi_feat_size=7,
            conv_out_channels=width,
            norm_cfg=norm_cfg),
        mask_roi_extractor=afp,
        mask_head=dict(
            type='FullyConnectedFusionMaskHead',
            num_convs=3,
            fc_branch_from=2,
            num_fc_convs=2,
            fc_relu=True)))
