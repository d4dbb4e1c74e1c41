"""The three PANet components inside a full Mask R-CNN, with stock heads."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import panet_mmdet  # noqa: F401
from conftest import total_loss

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STOCK = osp.join(ROOT, 'configs', 'demo', 'mask-rcnn_r18_fpn-gn_demo.py')
PANET = osp.join(ROOT, 'configs', 'demo', 'panet_r18_bufpn-gn_demo.py')
GN = dict(type='GN', num_groups=16, requires_grad=True)
WIDTH = 64  # the demo configs' neck and head channels


def _afp(layer_type, channels, **kwargs):
    return dict(
        type='AdaptiveFeaturePoolingRoIExtractor',
        roi_layer=dict(sampling_ratio=2),
        layer_type=layer_type,
        layer_channels=channels,
        **kwargs)


# Each variant: overrides of the stock demo Mask R-CNN's roi_head.
VARIANTS = {
    # AFP on the mask branch + the stock FCNMaskHead with 3 convs
    'afp-mask+FCNMaskHead':
    dict(
        mask_roi_extractor=_afp('conv', WIDTH, norm_cfg=GN),
        mask_head=dict(num_convs=3)),
    # AFP fc1 per level + stock ConvFCBBoxHead as fc2 (the 2fc box head)
    'afp-fc1+2fc-box-head':
    dict(
        bbox_roi_extractor=_afp('fc', 1024),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_fcs=1,
            in_channels=1024,
            roi_feat_size=1,
            fc_out_channels=1024)),
    # AFP conv per level + stock ConvFCBBoxHead(3 convs, 1 fc): heavier head
    'afp-conv+heavier-box-head':
    dict(
        bbox_roi_extractor=_afp('conv', WIDTH, norm_cfg=GN),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=3,
            num_shared_fcs=1,
            conv_out_channels=WIDTH,
            norm_cfg=GN)),
    # the fully-connected fusion head after a stock extractor (4 convs)
    'stock-extractor+ff-head':
    dict(
        mask_head=dict(
            type='FullyConnectedFusionMaskHead', num_convs=4, fc_relu=False)),
}


def _build(cfg):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _inputs(num_items=(4, 2)):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(
        2, [[3, 128, 160], [3, 96, 128]],
        num_items=list(num_items),
        num_classes=3,
        with_mask=True)


def _loss_backward_predict(model, packed):
    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total = total_loss(losses)
    assert torch.isfinite(total), losses
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(
            **model.data_preprocessor(packed, False), mode='predict')
    for res, (h, w) in zip(results, [(128, 160), (96, 128)]):
        inst = res.pred_instances
        assert inst.masks.shape[1:] == (h, w)
        assert len(inst.masks) == len(inst.bboxes) == len(inst.scores)
    return losses


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_component_with_stock_heads(variant):
    cfg = Config.fromfile(STOCK)
    cfg.merge_from_dict(dict(model=dict(roi_head=VARIANTS[variant])))
    model = _build(cfg)
    _loss_backward_predict(model, _inputs())
    extractor = (
        model.roi_head.mask_roi_extractor
        if 'mask' in variant else model.roi_head.bbox_roi_extractor)
    for name, p in extractor.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_full_panet_demo_model():
    cfg = Config.fromfile(PANET)
    model = _build(cfg)
    assert type(model.neck).__name__ == 'BottomUpAugmentedFPN'
    assert type(model.roi_head.mask_head).__name__ == \
        'FullyConnectedFusionMaskHead'
    losses = _loss_backward_predict(model, _inputs())
    assert {'loss_mask', 'loss_cls', 'loss_bbox',
            'loss_rpn_cls'} <= set(losses)
    for name, p in model.named_parameters():
        if name.startswith(('neck.', 'roi_head.')):
            assert p.grad is not None, name
    # every level of the neck feeds both RoI branches
    ex = model.roi_head.bbox_roi_extractor
    for layer in ex.level_layers:
        assert layer.conv.weight.grad.abs().sum() > 0
