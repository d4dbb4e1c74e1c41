# Full PANet for the embedded demo data: the stock demo Mask R-CNN
# (./mask-rcnn_r18_fpn-gn_demo.py, same data, widths and schedule) with
#   - the bottom-up path augmentation neck,
#   - adaptive feature pooling on both branches (per-level conv + max),
#   - fully-connected fusion in the mask head (3 convs after the extractor's
#     conv1; the fc path branches from the paper's conv3 = this head's conv 2),
#   - the heavier box head (per-level conv in the extractor + 3 shared convs
#     + 1 fc),
#   - GroupNorm in neck and heads, RoIAlign sampling ratio 2.
# It is the last rung of the demo ablation ladder, which adds these one at a
# time (./ablations/, tools/run_ablation.sh): + heavier box head on
# ./ablations/panet-2fc_r18_bufpn-gn_demo.py.
_base_ = './ablations/panet-2fc_r18_bufpn-gn_demo.py'

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
