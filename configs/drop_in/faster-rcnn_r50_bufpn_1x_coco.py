# The bottom-up path augmentation neck as a drop-in for FPN in Faster R-CNN
# (compare with mmdet's faster-rcnn_r50_pafpn_1x_coco.py).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['panet_mmdet'], allow_failed_imports=False)
# crash-safe checkpoints (configs/_base_/default_runtime.py)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
model = dict(neck=dict(type='BottomUpAugmentedFPN'))
