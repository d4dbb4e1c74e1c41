# COCO detection (boxes only) with the PANet authors' resizing: the data of
# ./coco_instance_detectron.py with boxes instead of boxes and masks loaded,
# evaluated on boxes (as mmdet's _base_/datasets/coco_detection.py is its
# coco_instance.py without the masks).
_base_ = './coco_instance_detectron.py'

train_pipeline = [
    dict(type='LoadAnnotations', with_bbox=True)
    if step.type == 'LoadAnnotations' else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(type='LoadAnnotations', with_bbox=True)
    if step.type == 'LoadAnnotations' else step
    for step in _base_.test_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
