# Demo ablation ladder, rung 3: + fully-connected fusion in the mask head
# (fc path from the paper's conv3, i.e. this 3-conv head's conv 2; ReLU
# after the fc, as the public code).
_base_ = './mask-rcnn-afp_r18_bufpn-gn_demo.py'
model = dict(
    roi_head=dict(
        mask_head=dict(
            type='FullyConnectedFusionMaskHead',
            fc_branch_from=2,
            num_fc_convs=2,
            fc_relu=True)))
