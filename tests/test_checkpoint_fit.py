"""The library (panet_mmdet.apis) and the tools built on it (test,
inference, export) refuse a checkpoint that does not fit the model (naming
per module what is missing, unexpected or of another shape) unless told
strict=False / --allow-partial-checkpoint; training's load_from keeps
mmdet's partial load and logs what it did not load."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from panet_mmdet.apis import (build_detector, build_inferencer, default_device,
                              load_detector, load_weights)
from panet_mmdet.checkpoint.fit import (CheckpointMismatchError,
                                        check_checkpoint_fits,
                                        checkpoint_state_dict, fit_summary)
from conftest import ROOT, data_options, run_tool

PANET = 'configs/demo/panet_r18_bufpn-gn_demo.py'
STOCK = 'configs/demo/mask-rcnn_r18_fpn-gn_demo.py'
NECK_LINE = 'neck: 18 tensors missing (downsample_convs, pa_convs)'


@pytest.fixture(scope='module')
def models():
    torch.manual_seed(0)
    return (build_detector(Config.fromfile(osp.join(ROOT, PANET))),
            build_detector(Config.fromfile(osp.join(ROOT, STOCK))))


@pytest.fixture(scope='module')
def stock_checkpoint(models, tmp_path_factory):
    from mmengine.runner import save_checkpoint
    path = str(tmp_path_factory.mktemp('ckpt') / 'stock.pth')
    save_checkpoint(
        {
            'state_dict': {
                'module.' + k: v
                for k, v in models[1].state_dict().items()
            },
            'meta': {
                'dataset_meta':
                dict(classes=('circle', 'rectangle', 'triangle'))
            }
        }, path)
    return path


def test_mismatch_is_named_per_module(models, stock_checkpoint):
    panet, stock = models
    with pytest.raises(CheckpointMismatchError) as e:
        check_checkpoint_fits(panet, stock_checkpoint, config=PANET)
    msg = str(e.value)
    for line in (NECK_LINE, 'roi_head.bbox_roi_extractor: 12 tensors missing '
                 '(level_layers)',
                 'roi_head.mask_head: 8 tensors missing (fc_convs, fc_logits)',
                 'roi_head.bbox_head: 2 tensors unexpected (shared_fcs)',
                 '--allow-partial-checkpoint', PANET):
        assert line in msg, msg
    assert 'backbone' not in msg  # what fits is not listed
    diff = check_checkpoint_fits(panet, stock_checkpoint, allow_partial=True)
    assert len(diff['missing']) == 18 + 12 + 9 + 12 + 8
    # the stock model fits its own checkpoint ('module.' prefix stripped)
    assert not any(check_checkpoint_fits(stock, stock_checkpoint).values())
    assert 'fits the model exactly' in fit_summary(stock, stock_checkpoint)


def test_load_detector_refuses_what_does_not_fit(models, stock_checkpoint):
    """The library's entry point refuses as the tools do (mmdet's
    init_detector would load the stock weights into PANet with a warning);
    strict=False loads what fits."""
    with pytest.raises(CheckpointMismatchError) as e:
        load_detector(PANET, stock_checkpoint, device='cpu')
    assert NECK_LINE in str(e.value) and 'strict=False' in str(e.value)
    with pytest.raises(CheckpointMismatchError, match='neck: 18 tensors'):
        build_inferencer(PANET, stock_checkpoint, device='cpu')
    stock = models[1]
    partial = load_detector(PANET, stock_checkpoint, strict=False)
    assert not partial.training
    assert torch.equal(partial.backbone.conv1.weight,
                       stock.backbone.conv1.weight)
    # a checkpoint that fits: every tensor equal, classes from its meta
    loaded = load_detector(STOCK, stock_checkpoint)
    assert default_device() == 'cpu'  # no GPU here: device=None is the CPU
    assert next(loaded.parameters()).device.type == default_device()
    assert loaded.dataset_meta['classes'] == ('circle', 'rectangle',
                                              'triangle')
    for k, v in stock.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    assert loaded.cfg.filename.endswith(STOCK)


def test_load_weights_into_a_built_model(models, stock_checkpoint):
    panet, stock = models
    fresh = build_detector(osp.join(ROOT, STOCK))
    meta = load_weights(fresh, stock_checkpoint)
    assert meta['dataset_meta']['classes'][0] == 'circle'
    assert torch.equal(fresh.roi_head.bbox_head.fc_cls.weight,
                       stock.roi_head.bbox_head.fc_cls.weight)
    before = {k: v.clone() for k, v in panet.state_dict().items()}
    with pytest.raises(CheckpointMismatchError):
        load_weights(panet, stock_checkpoint)
    for k, v in panet.state_dict().items():  # refused before any change
        assert torch.equal(before[k], v), k


def test_shape_mismatch_is_named(models):
    panet, _ = models
    state = dict(panet.state_dict())
    w = state['roi_head.bbox_head.fc_cls.weight']
    state['roi_head.bbox_head.fc_cls.weight'] = torch.zeros(81, w.shape[1])
    with pytest.raises(
            CheckpointMismatchError,
            match=r'fc_cls.weight: shape \(81, \d+\) in the '
            r'checkpoint, \(4, \d+\) in the model'):
        check_checkpoint_fits(panet, state)


def test_unreadable_checkpoints(tmp_path):
    with pytest.raises(ValueError, match='is not a file'):
        checkpoint_state_dict(str(tmp_path / 'none.pth'))
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='could not be read'):
        checkpoint_state_dict(str(bad))


@pytest.mark.slow
def test_tools_refuse_the_wrong_weights_unless_told(stock_checkpoint,
                                                    tiny_data, tmp_path):
    image = osp.join(tiny_data, 'val', 'val_00001.png')
    calls = {
        'test': [
            'tools/test.py', PANET, stock_checkpoint, '--work-dir',
            str(tmp_path / 'w'), '--cfg-options', *data_options(tiny_data)
        ],
        'infer': [
            'tools/infer.py', image, PANET, stock_checkpoint, '--out-dir',
            str(tmp_path / 'o')
        ],
        'export': [
            'tools/deployment/export_onnx.py', PANET, stock_checkpoint,
            '--out',
            str(tmp_path / 'm.onnx'), '--shape', '128', '128'
        ],
    }
    for name, args in calls.items():
        proc = run_tool(args, check=False)
        assert proc.returncode != 0, name
        assert NECK_LINE in proc.stderr, (name, proc.stderr[-2000:])
        assert not osp.exists(tmp_path / 'm.onnx')
    run_tool(calls['infer'] + ['--allow-partial-checkpoint'])
    assert (tmp_path / 'o' / 'vis' / 'val_00001.png').is_file()


def test_build_detector_leaves_the_callers_config_alone():
    """The library switches off ImageNet downloads on a copy of the config,
    not on the caller's (mmdet's init_detector writes into it)."""
    from panet_mmdet.utils.configs import load_config
    cfg = load_config(
        osp.join(ROOT, 'configs/panet/panet_r50_bufpn-gn_1x_coco.py'))
    before = cfg.to_dict()
    model = build_detector(cfg)
    assert model.cfg.model.backbone.init_cfg is None
    assert cfg.to_dict() == before
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
