# Full PANet with multi-scale training, 3x schedule (36 epochs).
# Scales follow the authors' code: short side in {400, 600, 800, 1000, 1200},
# long side at most 1400; test at short side 1000, long side 1400: the 1x
# config's pipelines with their Resize step replaced.
_base_ = './panet_r50_bufpn-gn_1x_coco.py'

train_pipeline = [
    dict(
        type='RandomChoiceResize',
        scales=[(1400, 400), (1400, 600), (1400, 800), (1400, 1000),
                (1400, 1200)],
        keep_ratio=True) if step.type == 'Resize' else step
    for step in _base_.train_dataloader.dataset.pipeline
]
test_pipeline = [
    dict(type='Resize', scale=(1400, 1000), keep_ratio=True)
    if step.type == 'Resize' else step
    for step in _base_.val_dataloader.dataset.pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
# the 1x schedule's warm-up, then steps at epochs 27 and 33
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_epochs, milestones=[27, 33])
]
