# Ablation baseline: stock Mask R-CNN with GroupNorm in neck and heads and
# RoIAlign sampling ratio 2, as every PANet ablation step below uses.
# The ladder (each rung's model is the previous one's with one component
# changed; tests/test_configs.py checks it):
#   mask-rcnn_r50_fpn-gn_1x_coco.py                this file (stock, GN)
#   mask-rcnn_r50_bufpn-gn_1x_coco.py              + bottom-up path (neck only)
#   mask-rcnn-afp_r50_bufpn-gn_1x_coco.py          + adaptive feature pooling
#   ../panet-2fc_r50_bufpn-gn_1x_coco.py           + fully-connected fusion
#   ../panet_r50_bufpn-gn_1x_coco.py               + heavier box head (PANet)
# Single component on the stock model, outside the ladder:
#   mask-rcnn-afp_r50_fpn-gn_1x_coco.py            adaptive pooling only
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['panet_mmdet'], allow_failed_imports=False)
# crash-safe checkpoints (configs/_base_/default_runtime.py)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_roi_extractor=dict(roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=0,
            num_shared_fcs=2,
            fc_out_channels=1024),
        mask_roi_extractor=dict(roi_layer=dict(sampling_ratio=2)),
        mask_head=dict(norm_cfg=norm_cfg)))
