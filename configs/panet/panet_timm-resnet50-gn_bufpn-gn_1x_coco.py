# Full PANet with timm's GroupNorm ResNet-50 (resnet50_gn: GN with 32 groups
# in every block, the backbone normalisation PANet's authors recommend),
# through mmpretrain's TIMMBackbone: features_only, the four stages at
# strides 4-32 (out_indices 1-4; 256, 512, 1024, 2048 channels, as mmdet's
# ResNet-50, so the neck is unchanged). ImageNet weights from timm
# (pretrained=True); without network access download the file the error
# names and set model.backbone.weights_file. Needs panet_mmdet[timm].
_base_ = './panet_r50_bufpn-gn_1x_coco.py'
custom_imports = dict(
    imports=['panet_mmdet', 'panet_mmdet.models.backbones.timm_backbone'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='OfflineTIMMBackbone',
        model_name='resnet50_gn',
        features_only=True,
        out_indices=(1, 2, 3, 4),
        pretrained=True),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
