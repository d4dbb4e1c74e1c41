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
    '../_base_/schedules/cityscapes_1x.py',
]
model = dict(
    roi_head=dict(
        bbox_head=dict(
            num_classes=8,
            loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)),
        mask_head=dict(num_classes=8)))
