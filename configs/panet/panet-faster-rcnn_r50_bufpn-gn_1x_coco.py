# Box-only PANet: Faster R-CNN with the bottom-up path augmentation neck,
# adaptive feature pooling and the heavier box head (GN in neck and head):
# the PANet model of ../_base_/models/panet_r50_bufpn-gn.py without its mask
# branch, with Faster R-CNN's settings where mmdet's Mask R-CNN differs
# (type, no mask padding, no low-quality matches in the R-CNN assigner), on
# mmdet's COCO detection data. train_cfg.rcnn.mask_size and
# test_cfg.rcnn.mask_thr_binary stay in the config, unused without a mask head.
_base_ = [
    '../_base_/models/panet_r50_bufpn-gn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='FasterRCNN',
    data_preprocessor=dict(pad_mask=False),
    roi_head=dict(mask_roi_extractor=None, mask_head=None),
    train_cfg=dict(rcnn=dict(assigner=dict(match_low_quality=False))))
