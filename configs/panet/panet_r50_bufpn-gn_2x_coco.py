# Full PANet, 2x schedule (24 epochs): the paper trains its mask models 2x.
_base_ = './panet_r50_bufpn-gn_1x_coco.py'

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
# the 1x schedule's warm-up, then steps at epochs 16 and 22 (mmdet's 2x)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_epochs, milestones=[16, 22])
]
