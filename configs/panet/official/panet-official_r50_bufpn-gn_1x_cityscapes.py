# The authors' COCO-trained PANet Mask R-CNN fine-tuned on Cityscapes (the
# paper's Table 8 setting: COCO-pretrained PANet on Cityscapes fine
# annotations). Start from their COCO checkpoint converted with the classes
# Cityscapes keeps (rider initialised from person, as the authors'
# convert_coco_model_to_cityscapes.py with cityscapes_to_coco_with_rider):
#   python tools/model_converters/panet_official_to_mmdet.py \
#       --dataset cityscapes downloaded_panet_mask_2x.pth \
#       checkpoints/panet-official_r50_bufpn-gn_2x_coco_cityscapes-classes.pth
#   tools/dist_train.sh \
#       configs/panet/official/panet-official_r50_bufpn-gn_1x_cityscapes.py 8
# Schedule and data: mmdet's cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py
# (8 epochs of the 8x repeated train set, batch 8, lr 0.01, step at epoch
# 7: ../../_base_/schedules/cityscapes_1x.py; biases as in the authors'
# schedule) with Detectron's Cityscapes scales (train short side 800..1024,
# test 1024, long side at most 2048), through DetectronResize
# (../../_base_/datasets/cityscapes_instance_detectron.py). The model and its
# test-time computation are those of the COCO config.
_base_ = [
    '../../_base_/models/panet-official_r50_bufpn-gn.py',
    '../../_base_/datasets/cityscapes_instance_detectron.py',
    '../../_base_/default_runtime.py',
    '../../_base_/schedules/cityscapes_1x.py',
]
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=8), mask_head=dict(num_classes=8)))

optim_wrapper = dict(paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.))
auto_scale_lr = dict(enable=False, base_batch_size=8)
load_from = 'checkpoints/panet-official_r50_bufpn-gn_2x_coco_cityscapes-classes.pth'  # noqa: E501
