# The PANet authors' released Faster R-CNN with the heavier box head,
# ResNet-50, 1x (COCO 2017 val box AP 39.8 as they report;
# configs/panet/e2e_panet_R-50-FPN_1x_det.yaml of GitHub ShuLiu1993/PANet):
# the official Mask R-CNN model without its mask branch, on COCO detection.
_base_ = [
    '../../_base_/models/panet-official_r50_bufpn-gn.py',
    '../../_base_/datasets/coco_instance_detectron.py',
    '../../_base_/schedules/detectron_step_1x.py',
]
model = dict(
    type='FasterRCNN',
    data_preprocessor=dict(pad_mask=False),
    roi_head=dict(mask_roi_extractor=None, mask_head=None))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='DetectronResize',
        scales=(1200, 1200, 1000, 800, 600, 400),
        max_size=1400),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='DetectronResize', scales=1000, max_size=1400),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
