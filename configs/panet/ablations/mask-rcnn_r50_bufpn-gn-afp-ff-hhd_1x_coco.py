# Ablation: + heavier box head (per-level conv3x3 + GN in the extractor, then
# 3 shared convs + 1 fc). This is the full PANet of
# ../panet_r50_fpn-gn_1x_coco.py (tests check the two build the same model).
_base_ = './mask-rcnn_r50_bufpn-gn-afp-ff_1x_coco.py'

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            layer_type='conv', layer_channels=256, norm_cfg=norm_cfg),
        bbox_head=dict(
            num_shared_convs=3,
            num_shared_fcs=1,
            in_channels=256,
            roi_feat_size=7,
            conv_out_channels=256,
            norm_cfg=norm_cfg)))
