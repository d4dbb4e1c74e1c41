# Stock Mask R-CNN (mmdet's FPN, RoIAlign extractor, FCN mask head) for the
# embedded demo data: a half-width ResNet-18 with GroupNorm, trained from
# scratch at 256x256 on a 2-core CPU in minutes. The baseline of the PANet
# demo config and rung 0 of the demo ablation ladder (./ablations/): same
# schedule, data and widths.
#
# Sized for a 2-core CPU (README, Results > Demo data): the RoI heads, not
# the backbone, dominate the step, so the neck and heads are 64 channels
# wide, the backbone runs at half width, 16 RoIs are sampled per image (half
# of them positive) from batches of 4 images, and RoIAlign takes 2x2 samples
# per bin (mmdet's default, adaptive, takes more for large RoIs).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/datasets/demo_shapes_instance.py',
]
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
        in_channels=[32, 64, 128, 256],
        out_channels=width,
        norm_cfg=norm_cfg),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=width),
        bbox_head=dict(
            in_channels=width,
            fc_out_channels=256,
            num_classes=num_classes),
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
        rpn=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(max_per_img=50)))

# Iteration-based schedule: 160 train images, batch 4 -> 40 iterations per
# epoch; 24 epochs, LR step at 75%. Each step trains the RoI heads on 64
# RoIs (16 per image), as many as batch 2 with 32 per image, but from twice
# the images: AP rose more than the step's cost (README, Results > Demo data).
max_iters = 960
train_dataloader = dict(batch_size=4)
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.75)], gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10.0, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=4)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=40),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
# Keep the global RNG states in checkpoints so --resume continues exactly,
# and log losses averaged over all processes in distributed runs.
custom_hooks = [
    dict(type='RandomStateCheckpointHook'),
    dict(type='DistributedLossAveragingHook'),
]
