# Demo ablation ladder, rung 1: the stock demo Mask R-CNN
# (../mask-rcnn_r18_fpn-gn_demo.py, rung 0) + bottom-up path augmentation
# (the neck only). Each rung inherits the previous one and changes one
# component (tests/test_demo_ablations.py checks it):
#   0 ../mask-rcnn_r18_fpn-gn_demo.py              stock Mask R-CNN (GN)
#   1 mask-rcnn_r18_bufpn-gn_demo.py               + bottom-up path (BPA)
#   2 mask-rcnn-afp_r18_bufpn-gn_demo.py           + adaptive feature pooling
#   3 panet-2fc_r18_bufpn-gn_demo.py               + fully-connected fusion
#   4 ../panet_r18_bufpn-gn_demo.py                + heavier box head (PANet)
# Single components on the stock model, outside the ladder:
#   mask-rcnn-afp_r18_fpn-gn_demo.py (AFP only),
#   mask-rcnn-ff_r18_fpn-gn_demo.py (FF only); BPA only is rung 1. Rungs 3
#   and 4 are the paper's 2fc vs heavier-head comparison. Run them all:
#   bash tools/run_ablation.sh 0 1 2
_base_ = '../mask-rcnn_r18_fpn-gn_demo.py'
model = dict(neck=dict(type='BottomUpAugmentedFPN'))
