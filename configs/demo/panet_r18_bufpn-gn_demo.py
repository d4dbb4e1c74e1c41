# Demo ablation ladder, rung 4: + heavier box head (per-level conv3x3 + GN in
# the extractor instead of fc1, then 3 shared convs + 1 fc). This is the full
# PANet demo, ../panet_r18_fpn-gn_demo.py.
_base_ = './mask-rcnn_r18_bufpn-gn-afp-ff_demo.py'

norm_cfg = dict(type='GN', num_groups=16, requires_grad=True)
width = 64
model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            layer_type='conv', layer_channels=width, norm_cfg=norm_cfg),
        bbox_head=dict(
            num_shared_convs=3,
            num_shared_fcs=1,
            in_channels=width,
            roi_feat_size=7,
            conv_out_channels=width,
            norm_cfg=norm_cfg)))
