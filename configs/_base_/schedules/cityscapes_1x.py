# mmdet's Cityscapes schedule (cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py):
# 8 epochs of the 8x repeated train set, LR 0.01 for batch 8, the warm-up of
# mmdet's 1x schedule, then one step at epoch 7; mmdet's
# _base_/schedules/schedule_1x.py otherwise.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

optim_wrapper = dict(optimizer=dict(lr=0.01))
max_epochs = 8
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_epochs, milestones=[7])
]
