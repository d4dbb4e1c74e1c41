"""Registration, config loading through mmdet:: bases, named config errors."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import panet_mmdet
from panet_mmdet.utils import check_dataset_paths
from conftest import total_loss

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'demo', 'mask-rcnn_r18_fpn-gn_demo.py')


def test_version_and_registration():
    from mmdet.registry import HOOKS as MMDET_HOOKS
    from mmdet.registry import MODEL_WRAPPERS as MMDET_WRAPPERS
    assert isinstance(panet_mmdet.__version__, str)
    assert panet_mmdet.__version__.count('.') == 2
    # Found from mmdet's scope, which is what a Runner with
    # default_scope='mmdet' uses.
    wrapper = MMDET_WRAPPERS.get('DeviceAgnosticDistributedDataParallel')
    assert wrapper is panet_mmdet.engine.DeviceAgnosticDistributedDataParallel
    assert MMDET_HOOKS.get('RandomStateCheckpointHook') is \
        panet_mmdet.engine.RandomStateCheckpointHook


def test_stock_config_with_custom_imports(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        "_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'\n"
        "custom_imports = dict(imports=['panet_mmdet'], "
        "allow_failed_imports=False)\n"
        "model = dict(backbone=dict(depth=18, init_cfg=None), "
        "neck=dict(in_channels=[64, 128, 256, 512]))\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.type == 'MaskRCNN'
    assert cfg.model.roi_head.mask_head.type == 'FCNMaskHead'
    assert cfg.custom_imports.imports == ['panet_mmdet']
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(cfg.model)
    assert model.backbone.depth == 18


def test_demo_config_builds_and_trains_one_step(tiny_data):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(DEMO_CONFIG)
    assert cfg.model.roi_head.bbox_head.num_classes == 3
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    packed = demo_mm_inputs(
        2, [[3, 128, 160], [3, 96, 128]],
        num_items=[3, 2],
        num_classes=3,
        with_mask=True)
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total = total_loss(losses)
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None for n, p in model.named_parameters()
               if n.startswith(('neck.', 'roi_head.mask_head.')))
    model.eval()
    with torch.no_grad():
        results = model(
            **model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2
    assert results[0].pred_instances.masks.shape[-2:] == (128, 160)


def test_missing_dataset_path_is_named(tmp_path):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.train_dataloader.dataset.data_root = str(tmp_path) + '/'
    with pytest.raises(
            FileNotFoundError,
            match=r'train_dataloader\.dataset\.ann_file .*'
            r'instances_train\.json'):
        check_dataset_paths(cfg)
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'nope') + '/'
    with pytest.raises(FileNotFoundError, match=r'data_root .*nope'):
        check_dataset_paths(cfg)


def test_unknown_module_is_named():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.neck.type = 'NoSuchNeck'
    with pytest.raises(KeyError, match='NoSuchNeck'):
        MODELS.build(cfg.model)
