# The authors' COCO-trained PANet Mask R-CNN fine-tuned on Cityscapes (the
# paper's Table 8 setting: COCO-pretrained PANet on Cityscapes fine
# annotations). Start from their COCO checkpoint converted with the classes
# Cityscapes keeps (rider initialised from person, as the authors'
# convert_coco_model_to_cityscapes.py with cityscapes_to_coco_with_rider):
#   python tools/model_converters/panet_official_to_mmdet.py \
#       --dataset cityscapes downloaded_panet_mask_2x.pth \
#       checkpoints/panet-official_r50_bufpn-gn_2x_coco_cityscapes-classes.pth
#   tools/dist_train.sh \
#       configs/panet/official/panet-official_r50_bufpn-gn_1x_cityscapes.py 8
# Schedule and data: mmdet's cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py
# (8 epochs of the 8x repeated train set, batch 8, lr 0.01, step at epoch
# 7) with Detectron's Cityscapes scales (train short side 800..1024, test
# 1024, long side at most 2048), through DetectronResize. The model and its
# test-time computation are those of the COCO config.
_base_ = [
    '../../_base_/models/panet-official_r50_bufpn-gn.py',
    'mmdet::_base_/datasets/cityscapes_instance.py',
    '../../_base_/default_runtime.py',
    'mmdet::_base_/schedules/schedule_1x.py',
]
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=8), mask_head=dict(num_classes=8)))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='DetectronResize',
        scales=tuple(range(800, 1025, 32)),
        max_size=2048),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='DetectronResize', scales=1024, max_size=2048),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.))
max_epochs = 8
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[7],
        gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
load_from = 'checkpoints/panet-official_r50_bufpn-gn_2x_coco_cityscapes-classes.pth'  # noqa: E501
