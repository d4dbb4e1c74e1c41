# Full PANet for the embedded demo data: the stock demo Mask R-CNN
# (./mask-rcnn_r18_fpn_gn_demo.py, same data, widths and schedule) with
#   - the bottom-up path augmentation neck,
#   - adaptive feature pooling on both branches (per-level conv + max),
#   - fully-connected fusion in the mask head (3 convs after the extractor's
#     conv1; the fc path branches from the paper's conv3 = this head's conv 2),
#   - the heavier box head (per-level conv in the extractor + 3 shared convs
#     + 1 fc),
#   - GroupNorm in neck and heads, RoIAlign sampling ratio 2.
# It is the last rung of the demo ablation ladder, which adds these one at a
# time (./ablations/, tools/run_ablation.sh).
_base_ = './ablations/mask-rcnn_r18_bufpn-gn-afp-ff-hhd_demo.py'
