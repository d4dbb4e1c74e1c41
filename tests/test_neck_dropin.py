"""BottomUpAugmentedFPN replaces FPN in stock mmdet detectors: neck.type
only."""
import pytest
import torch
from mmengine.hub import get_config

import panet_mmdet  # noqa: F401
from conftest import total_loss

DETECTORS = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',  # two-stage
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',  # one-stage, anchors
    'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',  # anchor-free
]


@pytest.mark.parametrize('config', DETECTORS)
def test_drop_in_replacement(config):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = get_config(config)
    assert cfg.model.neck.type == 'FPN'
    cfg.model.neck.type = 'BottomUpAugmentedFPN'  # the only change
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)  # no init_weights: nothing downloads
    assert type(model.neck).__name__ == 'BottomUpAugmentedFPN'
    with_mask = 'mask' in config
    packed = demo_mm_inputs(
        2, [[3, 128, 128], [3, 96, 160]],
        num_items=[3, 1],
        num_classes=80,
        with_mask=with_mask)
    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total = total_loss(losses)
    assert torch.isfinite(total)
    total.backward()
    for name, p in model.neck.named_parameters():
        assert p.grad is not None, name
    model.eval()
    with torch.no_grad():
        results = model(
            **model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2
    for res, (h, w) in zip(results, [(128, 128), (96, 160)]):
        inst = res.pred_instances
        assert inst.bboxes.shape[1] == 4
        assert len(inst.scores) == len(inst.labels) == len(inst.bboxes)
        if with_mask:
            assert inst.masks.shape[1:] == (h, w)
