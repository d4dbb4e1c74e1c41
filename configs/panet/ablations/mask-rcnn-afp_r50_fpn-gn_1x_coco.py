# Ablation: + adaptive feature pooling only (stock FPN). Box branch: per-level
# fc1 (1024) + max, then one shared fc (fc2); mask branch: per-level conv1
# + GN + max, then the stock FCN head with the remaining 3 convs.
_base_ = './mask-rcnn_r50_fpn-gn_1x_coco.py'

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            type='AdaptiveFeaturePoolingRoIExtractor',
            layer_type='fc',
            layer_channels=1024,
            norm_cfg=None,
            fusion='max'),
        # conv width and norm as PANet's box head (../../_base_/models/
        # panet_r50_bufpn-gn.py); unused here, with no shared convs
        bbox_head=dict(
            num_shared_fcs=1,
            in_channels=1024,
            roi_feat_size=1,
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_roi_extractor=dict(
            type='AdaptiveFeaturePoolingRoIExtractor',
            layer_type='conv',
            layer_channels=256,
            norm_cfg=norm_cfg,
            fusion='max'),
        mask_head=dict(num_convs=3)))
