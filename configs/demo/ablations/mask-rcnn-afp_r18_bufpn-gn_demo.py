# Demo ablation ladder, rung 2: + adaptive feature pooling on both branches.
# Box branch (2fc head): each level's 7x7 RoI grid through its own fc1
# (64*7*7 -> 256, ReLU), max over levels, then the head's one shared fc is
# fc2. Mask branch: each level's 14x14 grid through its own conv1 (3x3 + GN
# + ReLU), max, then the stock FCN head with the remaining 3 convs.
_base_ = './mask-rcnn_r18_bufpn-gn_demo.py'

norm_cfg = dict(type='GN', num_groups=16, requires_grad=True)
width = 64
fc_width = 256
model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            type='AdaptiveFeaturePoolingRoIExtractor',
            layer_type='fc',
            layer_channels=fc_width,
            fusion='max'),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=0,
            num_shared_fcs=1,
            in_channels=fc_width,
            roi_feat_size=1),
        mask_roi_extractor=dict(
            type='AdaptiveFeaturePoolingRoIExtractor',
            layer_type='conv',
            layer_channels=width,
            norm_cfg=norm_cfg,
            fusion='max'),
        mask_head=dict(num_convs=3)))
