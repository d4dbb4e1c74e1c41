# PANet with the 2fc box head instead of the heavier head: adaptive feature
# pooling's per-level layer is fc1 (256*7*7 -> 1024, ReLU), max over levels,
# then the box head's one shared fc is fc2 (no shared convs).
_base_ = './panet_r50_bufpn-gn_1x_coco.py'

model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            layer_type='fc', layer_channels=1024, norm_cfg=None),
        bbox_head=dict(num_shared_convs=0, in_channels=1024, roi_feat_size=1)))
