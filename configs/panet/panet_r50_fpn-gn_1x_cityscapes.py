# Full PANet on Cityscapes instance segmentation (8 classes), on top of
# mmdet's Cityscapes Mask R-CNN recipe (its schedule, scales and data).
# mmdet's recipe starts from its COCO Mask R-CNN checkpoint (load_from),
# whose heads do not match PANet's: this config starts from ImageNet weights
# instead (the paper's "fine only" setting). For the paper's COCO-pretrained
# setting, set load_from to a PANet COCO checkpoint of this repository.
_base_ = [
    'mmdet::cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py',
]
custom_imports = dict(imports=['panet_mmdet'], allow_failed_imports=False)

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
load_from = None
model = dict(
    backbone=dict(
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint='torchvision://resnet50')),
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
            norm_cfg=norm_cfg),
        mask_roi_extractor=dict(
            type='AdaptiveFeaturePoolingRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=2),
            layer_type='conv',
            layer_channels=256,
            norm_cfg=norm_cfg),
        mask_head=dict(
            type='FullyConnectedFusionMaskHead',
            num_convs=3,
            fc_branch_from=2,
            fc_relu=True,
            norm_cfg=norm_cfg)))
