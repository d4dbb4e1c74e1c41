# The bottom-up path augmentation neck as a drop-in for FPN in Cascade Mask
# R-CNN: only neck.type changes.
_base_ = 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['panet_mmdet'], allow_failed_imports=False)
# crash-safe checkpoints (configs/_base_/default_runtime.py)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
model = dict(neck=dict(type='BottomUpAugmentedFPN'))
