# The PANet authors' 1x schedule (configs/panet/*_1x_det.yaml): SGD, 16
# images per iteration (8 GPUs x 2), lr 0.02, momentum 0.9, weight decay
# 1e-4 (none on biases, biases at twice the lr: SOLVER.BIAS_DOUBLE_LR),
# linear warm-up over 500 iterations from lr / 3, 90k iterations with steps
# at 60k and 80k. Iteration-based, as theirs; mmdet's default runtime with
# checkpoints and logs counted in iterations.
_base_ = '../default_runtime.py'

max_iters = 90000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1. / 3, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[60000, 80000],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.))
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=10000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
