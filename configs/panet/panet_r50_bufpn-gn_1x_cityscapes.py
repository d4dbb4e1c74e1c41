# Full PANet on Cityscapes instance segmentation (8 classes): the model of
# ../_base_/models/panet_r50_bufpn-gn.py with the recipe of mmdet's
# cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py (its data, 8 epochs of the
# repeated dataset, LR 0.01 for batch 8, SmoothL1 box loss). mmdet's recipe
# starts from its COCO Mask R-CNN checkpoint (load_from), whose heads do not
# match PANet's: this config starts from ImageNet weights instead (the
# paper's "fine only" setting). For the paper's COCO-pretrained setting,
# ./official/panet-official_r50_bufpn-gn_1x_cityscapes.py fine-tunes the
# authors' released COCO model (converted with
# tools/model_converters/panet_official_to_mmdet.py --dataset cityscapes).
_base_ = [
    '../_base_/models/panet_r50_bufpn-gn.py',
    'mmdet::_base_/datasets/cityscapes_instance.py',
    '../_base_/default_runtime.py',
    'mmdet::_base_/schedules/schedule_1x.py',
]
model = dict(
    roi_head=dict(
        bbox_head=dict(
            num_classes=8,
            loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)),
        mask_head=dict(num_classes=8)))

optim_wrapper = dict(optimizer=dict(lr=0.01))
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
