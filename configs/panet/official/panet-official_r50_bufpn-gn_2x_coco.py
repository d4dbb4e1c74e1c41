# The PANet authors' released Mask R-CNN, ResNet-50, 2x (COCO 2017 val, as
# they report: 43.1 box AP, 38.3 mask AP; configs/panet/
# e2e_panet_R-50-FPN_2x_mask.yaml of GitHub ShuLiu1993/PANet).
# Evaluate their checkpoint after converting it:
#   python tools/model_converters/panet_official_to_mmdet.py \
#       downloaded_panet_mask_2x.pth \
#       checkpoints/panet-official_r50_bufpn-gn_2x_coco.pth
#   python tools/test.py \
#       configs/panet/official/panet-official_r50_bufpn-gn_2x_coco.py \
#       checkpoints/panet-official_r50_bufpn-gn_2x_coco.pth
# Training with it follows their yaml (multi-scale, 512 RoIs, lr 0.02, 180k
# iterations with steps at 120k and 160k, 16 images per iteration).
_base_ = [
    '../../_base_/models/panet-official_r50_bufpn-gn.py',
    '../../_base_/datasets/coco_instance_detectron.py',
    '../../_base_/schedules/detectron_step_1x.py',
]
max_iters = 180000
train_cfg = dict(max_iters=max_iters, val_interval=20000)
# the 1x schedule's warm-up, then its steps at 120k and 160k iterations
param_scheduler = [
    _base_.param_scheduler[0],
    dict(
        _base_.param_scheduler[1], end=max_iters, milestones=[120000, 160000])
]
default_hooks = dict(checkpoint=dict(interval=20000))
