# Ablation: + bottom-up path augmentation (the neck only).
_base_ = './mask-rcnn_r50_fpn-gn_1x_coco.py'
model = dict(neck=dict(type='BottomUpAugmentedFPN'))
