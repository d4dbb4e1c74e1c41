# Demo ablation, single component: fully-connected fusion alone on the stock
# demo Mask R-CNN (its 4-conv FCN head; the fc path branches from conv3).
_base_ = '../mask-rcnn_r18_fpn-gn_demo.py'
model = dict(
    roi_head=dict(
        mask_head=dict(
            type='FullyConnectedFusionMaskHead',
            fc_branch_from=3,
            num_fc_convs=2,
            fc_relu=True)))
