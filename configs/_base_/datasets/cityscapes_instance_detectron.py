# Cityscapes instance segmentation with Detectron's Cityscapes scales through
# the PANet authors' resizing (DetectronResize): training short side drawn
# from 800..1024 (step 32), testing at 1024, the long side at most 2048.
# Otherwise mmdet's _base_/datasets/cityscapes_instance.py (the 8x repeated
# train set): its pipelines with their resize step replaced.
_base_ = 'mmdet::_base_/datasets/cityscapes_instance.py'

train_pipeline = [
    dict(
        type='DetectronResize',
        scales=tuple(range(800, 1025, 32)),
        max_size=2048) if step.type == 'RandomResize' else step
    for step in _base_.train_dataloader.dataset.dataset.pipeline
]
test_pipeline = [
    dict(type='DetectronResize', scales=1024, max_size=2048)
    if step.type == 'Resize' else step
    for step in _base_.val_dataloader.dataset.pipeline
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
