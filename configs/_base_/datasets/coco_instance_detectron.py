# COCO instance segmentation with the PANet authors' resizing
# (DetectronResize: PANet:lib/utils/blob.py): training short side drawn from
# TRAIN.SCALES (1200, 1200, 1000, 800, 600, 400) with the long side at most
# 1400, horizontal flips; testing at SCALE 1000 / MAX_SIZE 1400, one image
# per batch (padding depends on the batch and GN sees it: the authors test
# one image at a time). Otherwise mmdet's _base_/datasets/coco_instance.py:
# its pipelines with their Resize step replaced.
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

train_pipeline = [
    dict(
        type='DetectronResize',
        scales=(1200, 1200, 1000, 800, 600, 400),
        max_size=1400) if step.type == 'Resize' else step
    for step in _base_.train_dataloader.dataset.pipeline
]
test_pipeline = [
    dict(type='DetectronResize', scales=1000, max_size=1400)
    if step.type == 'Resize' else step
    for step in _base_.val_dataloader.dataset.pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
