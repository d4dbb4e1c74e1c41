# The PANet demo (./panet_r18_bufpn-gn_demo.py: same data, widths and schedule)
# with timm's ResNet-18 as the backbone, through mmpretrain's TIMMBackbone,
# its BatchNorm replaced by GroupNorm (32 groups, TIMMGroupNorm) and trained
# from scratch (pretrained=False: nothing is downloaded). Stages at strides
# 4-32 (out_indices 1-4) with 64, 128, 256, 512 channels, as the neck
# expects. Needs panet_mmdet[timm].
_base_ = './panet_r18_bufpn-gn_demo.py'
custom_imports = dict(
    imports=['panet_mmdet', 'panet_mmdet.models.backbones.timm_backbone'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='OfflineTIMMBackbone',
        model_name='resnet18',
        features_only=True,
        out_indices=(1, 2, 3, 4),
        pretrained=False,
        norm_layer='mmdet.TIMMGroupNorm'),
    neck=dict(in_channels=[64, 128, 256, 512]))
