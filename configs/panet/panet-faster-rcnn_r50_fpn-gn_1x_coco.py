# Box-only PANet: Faster R-CNN with the bottom-up path augmentation neck,
# adaptive feature pooling and the heavier box head (GN in neck and head).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['panet_mmdet'], allow_failed_imports=False)

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    neck=dict(type='BottomUpAugmentedFPN', norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_roi_extractor=dict(
            type='AdaptiveFeaturePoolingRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2),
            layer_type='conv',
            layer_channels=256,
            norm_cfg=norm_cfg),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=3,
            num_shared_fcs=1,
            conv_out_channels=256,
            fc_out_channels=1024,
            norm_cfg=norm_cfg)))
