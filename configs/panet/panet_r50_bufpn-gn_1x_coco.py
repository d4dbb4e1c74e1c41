# Full PANet Mask R-CNN, ResNet-50, COCO, 1x (12 epochs): the model of
# ../_base_/models/panet_r50_bufpn-gn.py with mmdet's COCO instance data,
# 1x schedule and runtime (the same bases as mmdet's
# mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py).
_base_ = [
    '../_base_/models/panet_r50_bufpn-gn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
