# PANet with the 2fc box head instead of the heavier head: adaptive feature
# pooling's per-level layer is fc1 (256*7*7 -> 1024, ReLU), max over levels,
# then a stock ConvFCBBoxHead with one shared fc is fc2.
_base_ = './panet_r50_fpn-gn_1x_coco.py'

model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            layer_type='fc', layer_channels=1024, norm_cfg=None),
        bbox_head=dict(
            _delete_=True,
            type='ConvFCBBoxHead',
            num_shared_convs=0,
            num_shared_fcs=1,
            in_channels=1024,
            roi_feat_size=1,
            fc_out_channels=1024,
            num_classes=80,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0))))
