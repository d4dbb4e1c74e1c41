"""timm backbones through mmpretrain's TIMMBackbone: the configs build with
their channels wired to the neck, train, and work without network access."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('timm')
pytest.importorskip('mmpretrain')

from mmengine.config import Config  # noqa: E402

from panet_mmdet.apis import build_detector  # noqa: E402
from panet_mmdet.models.backbones.timm_backbone import (  # noqa: E402
    OfflineTIMMBackbone, TIMMGroupNorm)
from conftest import ROOT, data_options, run_tool, total_loss  # noqa: E402

DEMO = osp.join(ROOT, 'configs/demo/panet_timm-resnet18-gn_bufpn-gn_demo.py')
COCO = osp.join(ROOT,
                'configs/panet/panet_timm-resnet50-gn_bufpn-gn_1x_coco.py')


def _norms(module):
    return (sum(isinstance(m, torch.nn.GroupNorm) for m in module.modules()),
            sum(
                isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                for m in module.modules()))


@pytest.mark.parametrize('config, channels, model_name', [
    (DEMO, [64, 128, 256, 512], 'resnet18'),
    (COCO, [256, 512, 1024, 2048], 'resnet50_gn'),
])
def test_config_wires_timm_stages_to_the_neck(config, channels, model_name):
    cfg = Config.fromfile(config)
    assert cfg.model.backbone.model_name == model_name
    model = build_detector(cfg)  # COCO: pretrained=False, nothing downloads
    info = model.backbone.timm_model.feature_info
    assert info.channels() == channels == model.neck.in_channels
    assert info.reduction() == [4, 8, 16, 32]
    gn, bn = _norms(model.backbone)
    assert gn > 0 and bn == 0  # GroupNorm throughout, as PANet recommends


def test_demo_config_trains_a_step():
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(0)
    model = build_detector(Config.fromfile(DEMO))
    model.init_weights()
    packed = demo_mm_inputs(
        2, [[3, 128, 160], [3, 96, 128]],
        num_items=[3, 2],
        num_classes=3,
        with_mask=True)
    model.train()
    total = total_loss(
        model(**model.data_preprocessor(packed, True), mode='loss'))
    assert torch.isfinite(total)
    total.backward()
    grads = {name: p.grad for name, p in model.backbone.named_parameters()}
    assert all(g is not None for g in grads.values())
    # timm zero-initialises each block's last norm weight, so at step 0 only
    # the stem, the downsample paths and those norms get a gradient; each
    # of the four stages (and the stem) must get one
    for part in ('conv1.', 'layer1.', 'layer2.', 'layer3.', 'layer4.'):
        assert any(g.abs().sum() > 0 for n, g in grads.items()
                   if n.startswith('timm_model.' + part)), part
    model.eval()
    with torch.no_grad():
        results = model(
            **model.data_preprocessor(packed, False), mode='predict')
    assert [r.pred_instances.masks.shape[1:] for r in results] == \
        [(128, 160), (96, 128)]


def test_timm_group_norm_is_group_norm_with_32_groups():
    norm = TIMMGroupNorm(64)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 64, 5, 7)
    torch.testing.assert_close(
        norm(x), F.group_norm(x, 32, norm.weight, norm.bias, 1e-5))
    assert TIMMGroupNorm(16, num_groups=4).num_groups == 4


def test_weights_file_is_loaded_exactly(tmp_path):
    import timm
    from safetensors.torch import save_file
    torch.manual_seed(1)
    reference = timm.create_model('resnet18', pretrained=False)
    path = str(tmp_path / 'model.safetensors')
    save_file(reference.state_dict(), path)
    backbone = OfflineTIMMBackbone(
        'resnet18',
        pretrained=True,
        weights_file=path,
        features_only=True,
        out_indices=(1, 2, 3, 4))
    ours = backbone.timm_model.state_dict()
    for k, v in reference.state_dict().items():
        if k in ours:  # features_only drops the classifier
            assert torch.equal(ours[k], v), k
    assert 'layer4.1.conv2.weight' in ours


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match='model_name'):
        OfflineTIMMBackbone('resnet_does_not_exist')
    with pytest.raises(ValueError, match='pretrained=True'):
        OfflineTIMMBackbone('resnet18', weights_file=str(tmp_path / 'w.pth'))
    with pytest.raises(FileNotFoundError, match='w.pth.*huggingface.co/timm'):
        OfflineTIMMBackbone(
            'resnet18', pretrained=True, weights_file=str(tmp_path / 'w.pth'))


def test_pretrained_without_network_says_what_to_download():
    """HF_HUB_OFFLINE=1 fails at once the way a machine without network
    fails after huggingface_hub's retries (about 50 s here)."""
    code = ('from panet_mmdet.models.backbones.timm_backbone import '
            'OfflineTIMMBackbone as B\n'
            "B('resnet18', pretrained=True, features_only=True)")
    proc = run_tool(['-c', code],
                    env=dict(HF_HUB_OFFLINE='1'),
                    timeout=300,
                    check=False)
    assert proc.returncode != 0
    err = proc.stderr.splitlines()[-1]
    assert err.startswith('RuntimeError: could not get the pretrained weights')
    assert 'https://huggingface.co/timm/resnet18' in err
    assert "backbone.weights_file='/path/to/that/file'" in err


@pytest.mark.slow
def test_demo_config_short_training_run(tiny_data, tmp_path):
    work = tmp_path / 'timm_demo'
    run_tool([
        'tools/train.py', DEMO, '--work-dir',
        str(work), '--cfg-options', *data_options(tiny_data),
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2'
    ])
    assert (work / 'iter_2.pth').is_file()
    [log] = list(work.glob('*/*.log'))
    text = log.read_text()
    assert 'OfflineTIMMBackbone' in text and 'coco/segm_mAP' in text


@pytest.mark.parametrize('config', [DEMO, COCO])
def test_deployment_loads_timm_configs_offline(config):
    """export_onnx / load_detector import the config's custom_imports and
    download nothing (the checkpoint holds the weights)."""
    from panet_mmdet.apis import load_detector
    from panet_mmdet.deployment import check_exportable
    model = load_detector(config)
    assert type(model.backbone).__name__ == 'OfflineTIMMBackbone'
    check_exportable(model)
