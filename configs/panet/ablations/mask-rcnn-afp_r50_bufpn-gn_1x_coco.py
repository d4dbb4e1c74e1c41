# Ablation: bottom-up path augmentation + adaptive feature pooling.
_base_ = './mask-rcnn-afp_r50_fpn-gn_1x_coco.py'
model = dict(neck=dict(type='BottomUpAugmentedFPN'))
