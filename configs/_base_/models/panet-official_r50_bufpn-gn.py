# The PANet authors' Mask R-CNN (GitHub ShuLiu1993/PANet, Detectron.pytorch,
# configs/panet/e2e_panet_R-50-FPN_2x_mask.yaml) in mmdet: the model of
# ./panet_r50_bufpn-gn.py with the authors' conventions, so that a checkpoint
# converted by tools/model_converters/panet_official_to_mmdet.py computes
# what their code computes (tests/test_official_parity.py checks it stage by
# stage against a re-implementation of their test code):
#   - caffe ResNet-50 (stride in the 1x1 conv), AffineChannel = frozen BN
#     (the converter writes running_mean 0, running_var 1 - eps), BGR input,
#     pixel means without std, padding to 32
#   - bottom-up convs with a bias before GN (pa_bias=True)
#   - Detectron anchors, box coder (+1 pixel convention), RoIAlign without
#     the half-pixel shift, RPN proposals clipped to the padded image, NMS
#     with +1 areas, no RPN min-size filter
#   - DetectronRoIHead: boxes decoded in the original image, the authors'
#     mask pasting, boxes returned with exclusive far corners
_base_ = './panet_r50_bufpn-gn.py'

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
detectron_coder = dict(
    _delete_=True,
    type='DetectronDeltaXYWHBBoxCoder',
    target_means=[0., 0., 0., 0.],
    target_stds=[0.1, 0.1, 0.2, 0.2])
model = dict(
    data_preprocessor=dict(
        mean=[102.9801, 115.9465, 122.7717],
        std=[1., 1., 1.],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(
        style='caffe',
        frozen_stages=1,  # FREEZE_AT: 2 (stem and res2)
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet50_caffe')),
    neck=dict(pa_bias=True),
    rpn_head=dict(
        type='DetectronRPNHead',
        pad_size_divisor=32,
        anchor_generator=dict(
            _delete_=True,
            type='DetectronAnchorGenerator',
            strides=[4, 8, 16, 32, 64],
            ratios=[0.5, 1.0, 2.0],
            sizes=[32, 64, 128, 256, 512]),
        bbox_coder=dict(detectron_coder, target_stds=[1., 1., 1., 1.]),
        loss_bbox=dict(
            _delete_=True, type='SmoothL1Loss', beta=1 / 9, loss_weight=1.0)),
    roi_head=dict(
        type='DetectronRoIHead',
        bbox_roi_extractor=dict(
            roi_layer=dict(
                type='RoIAlign',
                output_size=7,
                sampling_ratio=2,
                aligned=False)),
        bbox_head=dict(
            bbox_coder=detectron_coder,
            loss_bbox=dict(
                _delete_=True,
                type='SmoothL1Loss',
                beta=1 / 3,
                loss_weight=1.0)),
        mask_roi_extractor=dict(
            roi_layer=dict(
                type='RoIAlign',
                output_size=14,
                sampling_ratio=2,
                aligned=False))),
    # the yaml's TRAIN settings and config.py's defaults
    train_cfg=dict(
        rpn=dict(allowed_border=0),  # RPN_STRADDLE_THRESH: 0
        rpn_proposal=dict(
            nms_pre=2000,
            max_per_img=2000,
            nms=dict(type='nms', iou_threshold=0.7, offset=1),
            min_bbox_size=-1),
        rcnn=dict(assigner=dict(match_low_quality=False))),
    # the yaml's TEST settings: SCALE 1000 / MAX_SIZE 1400 (test pipeline),
    # RPN top 1000 per level before and after NMS, then 1000 per image
    test_cfg=dict(
        rpn=dict(
            nms_pre=1000,
            max_per_img=1000,
            nms=dict(type='nms', iou_threshold=0.7, offset=1),
            min_bbox_size=-1),
        rcnn=dict(
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5, offset=1),
            max_per_img=100,
            mask_thr_binary=0.5)))
