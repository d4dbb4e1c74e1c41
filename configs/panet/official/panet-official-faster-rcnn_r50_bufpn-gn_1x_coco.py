# The PANet authors' released Faster R-CNN with the heavier box head,
# ResNet-50, 1x (COCO 2017 val box AP 39.8 as they report;
# configs/panet/e2e_panet_R-50-FPN_1x_det.yaml of GitHub ShuLiu1993/PANet):
# the official Mask R-CNN model without its mask branch, on COCO detection.
_base_ = [
    '../../_base_/models/panet-official_r50_bufpn-gn.py',
    '../../_base_/datasets/coco_detection_detectron.py',
    '../../_base_/schedules/detectron_step_1x.py',
]
model = dict(
    type='FasterRCNN',
    data_preprocessor=dict(pad_mask=False),
    roi_head=dict(mask_roi_extractor=None, mask_head=None))
