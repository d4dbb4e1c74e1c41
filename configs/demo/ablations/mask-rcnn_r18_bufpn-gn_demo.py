# Demo ablation ladder, rung 1: the stock demo Mask R-CNN
# (../mask-rcnn_r18_fpn_gn_demo.py, rung 0) + bottom-up path augmentation
# (the neck only). Each rung inherits the previous one and changes one
# component (tests/test_demo_ablations.py checks it):
#   0 ../mask-rcnn_r18_fpn_gn_demo.py              stock Mask R-CNN (GN)
#   1 mask-rcnn_r18_bufpn-gn_demo.py               + bottom-up path (BPA)
#   2 mask-rcnn_r18_bufpn-gn-afp_demo.py           + adaptive feature pooling
#   3 mask-rcnn_r18_bufpn-gn-afp-ff_demo.py        + fully-connected fusion
#   4 mask-rcnn_r18_bufpn-gn-afp-ff-hhd_demo.py    + heavier box head
#                                                  (= ../panet_r18_fpn-gn_demo.py)
# Single components on the stock model, outside the ladder:
#   mask-rcnn_r18_fpn-gn-afp_demo.py (AFP only), mask-rcnn_r18_fpn-gn-ff_demo.py
#   (FF only); BPA only is rung 1. Rungs 3 and 4 are the paper's 2fc vs
#   heavier-head comparison. Run them all: bash tools/run_ablation.sh 0 1 2
_base_ = '../mask-rcnn_r18_fpn_gn_demo.py'
model = dict(neck=dict(type='BottomUpAugmentedFPN'))
