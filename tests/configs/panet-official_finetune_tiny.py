# Fine-tuning the converted official PANet Mask R-CNN on the tiny demo data
# (3 classes, 128 px) for a few iterations: the official model, its
# DetectronResize pipelines at 128 px, the tiny config's loaders. The test
# sets load_from (a converted checkpoint) and data_root.
_base_ = '../../configs/panet/official/panet-official_r50_bufpn-gn_2x_coco.py'

model = dict(
    backbone=dict(init_cfg=None),  # no ImageNet download: load_from has it
    roi_head=dict(
        bbox_head=dict(num_classes=3), mask_head=dict(num_classes=3)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=64))))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='DetectronResize', scales=(112, 128), max_size=160),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='DetectronResize', scales=128, max_size=160),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
metainfo = dict(classes=('circle', 'rectangle', 'triangle'))
dataset = dict(
    type='CocoDataset', metainfo=metainfo, data_root='', backend_args=None)
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    batch_sampler=None,
    sampler=dict(type='InfiniteSampler', shuffle=False),
    dataset=dict(
        dataset,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='annotations/instances_val.json')
test_evaluator = val_evaluator

max_iters = 2
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=0.002))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=2)
]
default_hooks = dict(
    logger=dict(interval=1),
    # the weights are what the test reads (the optimizer state would double
    # a 580 MB file)
    checkpoint=dict(interval=max_iters, save_optimizer=False))
