# Stock Mask R-CNN (mmdet's FPN, RoIAlign extractor, FCN mask head) for the
# embedded demo data: a half-width ResNet-18 with GroupNorm, trained from
# scratch at 256x256 on a 2-core CPU in minutes; mmdet's Mask R-CNN model
# (mmdet::_base_/models/mask-rcnn_r50_fpn.py) otherwise.
#
# Sized for a 2-core CPU: the RoI heads, not the backbone, dominate the
# step, so the neck and heads are 64 channels wide, the backbone runs at half
# width, 16 RoIs are sampled per image (half of them positive), and RoIAlign
# takes 2x2 samples per bin (mmdet's default, adaptive, takes more for large
# RoIs). The PANet demo model (./panet_r18_bufpn-gn_demo.py) is this one
# with PANet's neck and heads.
#
# The box classification loss is weighted x5 (mmdet: x1). The shapes differ
# only in their outline; with weight 1 the features learnt it slowly (most
# rectangles were called circles, on training images too), and x5 raised the
# share of right classes and the AP (docs/results.md).
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['panet_mmdet'], allow_failed_imports=False)

norm_cfg = dict(type='GN', num_groups=16, requires_grad=True)
width = 64  # neck and head channels (256 in the COCO configs)
num_classes = 3

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        depth=18,
        base_channels=32,  # stages of 32, 64, 128, 256 channels
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=None),
    neck=dict(
        in_channels=[32, 64, 128, 256], out_channels=width, norm_cfg=norm_cfg),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=width),
        bbox_head=dict(
            in_channels=width,
            fc_out_channels=256,
            num_classes=num_classes,
            loss_cls=dict(loss_weight=5.0)),
        mask_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=width),
        mask_head=dict(
            in_channels=width,
            conv_out_channels=width,
            num_classes=num_classes,
            norm_cfg=norm_cfg)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=16, pos_fraction=0.5))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100), rcnn=dict(max_per_img=50)))
