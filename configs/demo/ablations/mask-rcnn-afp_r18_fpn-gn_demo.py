# Demo ablation, single component: adaptive feature pooling alone on the
# stock demo Mask R-CNN (rung 2 with mmdet's FPN instead of the bottom-up
# path).
_base_ = './mask-rcnn-afp_r18_bufpn-gn_demo.py'
model = dict(neck=dict(type='FPN'))
