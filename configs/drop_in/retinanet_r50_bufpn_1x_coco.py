# The bottom-up path augmentation neck as a drop-in for FPN in RetinaNet:
# only neck.type changes (start_level=1, add_extra_convs='on_input' and the
# rest keep FPN's meaning; P6/P7 are built from the augmented N5).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['panet_mmdet'], allow_failed_imports=False)
# crash-safe checkpoints (configs/_base_/default_runtime.py)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
model = dict(neck=dict(type='BottomUpAugmentedFPN'))
