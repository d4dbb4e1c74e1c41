# The PANet authors' Faster R-CNN with the 2fc box head with GroupNorm,
# ResNet-50, 1x (COCO 2017 val box AP 39.6, their issue #5;
# configs/panet/e2e_panet_R-50-FPN_1x_det_2fc.yaml, box head
# roi_2mlp_head_gn_panet): adaptive feature pooling's per-level layer is fc1
# + GN + ReLU, then fc2 + GN + ReLU (FCNormConvFCBBoxHead).
_base_ = './panet-official-faster-rcnn_r50_bufpn-gn_1x_coco.py'

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            layer_type='fc', layer_channels=1024, norm_cfg=norm_cfg),
        bbox_head=dict(
            type='FCNormConvFCBBoxHead',
            num_shared_convs=0,
            num_shared_fcs=1,
            in_channels=1024,
            roi_feat_size=1,
            fc_norm_cfg=norm_cfg)))
