"""Every config in configs/ builds; non-COCO ones run a loss and a predict;
the built models match their recorded fingerprints.

Regenerate the fingerprints after an intended model change with
``python tests/test_configs.py --update-fingerprints`` (and say why in the
commit).
"""
import collections
import glob
import hashlib
import json
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

import panet_mmdet  # noqa: F401
from panet_mmdet.apis import build_detector
from conftest import total_loss

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, ROOT) for p in glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)
FINGERPRINTS = osp.join(ROOT, 'tests', 'data', 'config_fingerprints.json')


def _build(cfg):
    torch.manual_seed(0)
    # no init_weights and timm backbones without pretrained: nothing downloads
    return build_detector(cfg)


def test_config_list_is_complete():
    names = {osp.basename(c) for c in CONFIGS}
    assert {
        'panet_r50_bufpn-gn_1x_coco.py', 'panet_r50_bufpn-gn_2x_coco.py',
        'panet_r50_bufpn-gn_ms-3x_coco.py',
        'panet-2fc_r50_bufpn-gn_1x_coco.py',
        'panet-faster-rcnn_r50_bufpn-gn_1x_coco.py',
        'panet_r50_bufpn-gn_1x_cityscapes.py',
        'retinanet_r50_bufpn_1x_coco.py',
        'cascade-mask-rcnn_r50_bufpn_1x_coco.py', 'panet_r18_bufpn-gn_demo.py',
        'mask-rcnn_r18_fpn-gn_demo.py',
        'panet_timm-resnet50-gn_bufpn-gn_1x_coco.py',
        'panet_timm-resnet18-gn_bufpn-gn_demo.py',
        'panet-official_r50_bufpn-gn_2x_coco.py',
        'panet-official-faster-rcnn_r50_bufpn-gn_1x_coco.py',
        'panet-official-faster-rcnn-2fc_r50_bufpn-gn_1x_coco.py',
        'panet-official_r50_bufpn-gn_1x_cityscapes.py'
    } <= names
    assert len([c for c in CONFIGS if 'panet/ablations' in c]) == 4
    assert len([c for c in CONFIGS if 'demo/ablations' in c]) == 5


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    if 'demo' not in config:
        assert cfg.custom_imports.imports[0] == 'panet_mmdet'
    model = _build(cfg)
    if 'coco' in config or 'cityscapes' in config:
        # real-data configs keep an ImageNet-pretrained backbone: mmdet's,
        # or timm's weights
        assert 'torchvision://' in str(cfg.model.backbone.get('init_cfg')) or \
            'open-mmlab://' in str(cfg.model.backbone.get('init_cfg')) or \
            cfg.model.backbone.get('pretrained') is True
    if 'bufpn' in config or osp.basename(config).startswith('panet'):
        assert type(model.neck).__name__ == 'BottomUpAugmentedFPN'
    assert sum(p.numel() for p in model.parameters()) > 0


def fingerprint(model):
    """What a config builds: parameter count, module types, and a digest of
    every state-dict entry's name and shape."""
    entries = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    return dict(
        params=sum(p.numel() for p in model.parameters()),
        module_types=dict(
            sorted(
                collections.Counter(type(m).__name__
                                    for m in model.modules()).items())),
        state_dict_digest=hashlib.sha1(
            json.dumps(entries).encode()).hexdigest())


def _fingerprints():
    return {
        c: fingerprint(_build(Config.fromfile(osp.join(ROOT, c))))
        for c in CONFIGS
    }


def test_built_models_match_their_fingerprints():
    """Config refactors (shared bases, overrides instead of restated
    defaults) must build the same models; the fingerprints were recorded
    before configs/_base_/models/panet_r50_bufpn-gn.py existed."""
    with open(FINGERPRINTS) as f:
        expected = json.load(f)
    assert sorted(expected) == CONFIGS, 'configs added or removed: update'
    for config, got in _fingerprints().items():
        assert got == expected[config], config


def test_variants_share_the_panet_model_base():
    base = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/models/panet_r50_bufpn-gn.py')).model
    faster = Config.fromfile(
        osp.join(
            ROOT,
            'configs/panet/panet-faster-rcnn_r50_bufpn-gn_1x_coco.py')).model
    cityscapes = Config.fromfile(
        osp.join(ROOT,
                 'configs/panet/panet_r50_bufpn-gn_1x_cityscapes.py')).model
    assert faster.type == 'FasterRCNN' and faster.roi_head.mask_head is None
    for part in ('neck', 'backbone', 'rpn_head'):
        assert faster[part] == base[part] == cityscapes[part], part
    for part in ('bbox_roi_extractor', 'bbox_head'):
        assert faster.roi_head[part] == base.roi_head[part], part
    # Cityscapes changes the class count and the box loss, nothing else
    for part in ('bbox_head', 'mask_head'):
        assert cityscapes.roi_head[part].num_classes == 8
        cityscapes.roi_head[part].num_classes = 80
    cityscapes.roi_head.bbox_head.loss_bbox = base.roi_head.bbox_head.loss_bbox
    assert cityscapes.to_dict() == base.to_dict()


# The COCO ablation ladder: (config, the model parts its step changes); it
# ends at the PANet configs themselves, 2fc box head then the heavier one.
_AB = 'configs/panet/ablations/'
_AFP_PARTS = ('roi_head.bbox_roi_extractor', 'roi_head.bbox_head',
              'roi_head.mask_roi_extractor', 'roi_head.mask_head')
COCO_LADDER = [
    (_AB + 'mask-rcnn_r50_fpn-gn_1x_coco.py', ()),
    (_AB + 'mask-rcnn_r50_bufpn-gn_1x_coco.py', ('neck', )),
    (_AB + 'mask-rcnn-afp_r50_bufpn-gn_1x_coco.py', _AFP_PARTS),
    ('configs/panet/panet-2fc_r50_bufpn-gn_1x_coco.py',
     ('roi_head.mask_head', )),
    ('configs/panet/panet_r50_bufpn-gn_1x_coco.py',
     ('roi_head.bbox_roi_extractor', 'roi_head.bbox_head')),
]


def _flatten(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def test_ablation_ladder_changes_one_component_a_step():
    """Every rung's model is its predecessor's with one component changed,
    the rest of the config (data, schedule, runtime) the same; the ladder
    ends at the full PANet config, its +FF rung is the 2fc PANet config."""
    cfgs = [Config.fromfile(osp.join(ROOT, c)) for c, _ in COCO_LADDER]
    assert all(osp.isfile(osp.join(ROOT, c)) for c, _ in COCO_LADDER)
    assert {osp.join(ROOT, c)
            for c, _ in COCO_LADDER if c.startswith(_AB)} | {
                osp.join(ROOT, _AB, 'mask-rcnn-afp_r50_fpn-gn_1x_coco.py')
            } == set(glob.glob(osp.join(ROOT, _AB, '*.py')))
    for (config, parts), child, parent in zip(COCO_LADDER[1:], cfgs[1:], cfgs):
        a, b = _flatten(child.model.to_dict()), _flatten(
            parent.model.to_dict())
        changed = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
        assert changed, config
        assert all(
            any(k == p or k.startswith(p + '.') for p in parts)
            for k in changed), (config, sorted(changed))
        for key in set(child.keys()) | set(parent.keys()):
            if key not in ('model', 'norm_cfg', 'afp'):
                assert child.get(key) == parent.get(key), (config, key)


@pytest.mark.parametrize('config',
                         [c for c in CONFIGS if 'coco' not in osp.basename(c)])
def test_non_coco_config_loss_and_predict(config):
    from mmdet.testing import demo_mm_inputs
    cfg = Config.fromfile(osp.join(ROOT, config))
    model = _build(cfg)
    num_classes = cfg.model.roi_head.bbox_head.num_classes
    packed = demo_mm_inputs(
        2, [[3, 128, 192], [3, 160, 128]],
        num_items=[3, 2],
        num_classes=num_classes,
        with_mask=True)
    model.train()
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    total = total_loss(losses)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(
            **model.data_preprocessor(packed, False), mode='predict')
    assert [r.pred_instances.masks.shape[1:] for r in results] == \
        [(128, 192), (160, 128)]


if __name__ == '__main__' and sys.argv[1:] == ['--update-fingerprints']:
    with open(FINGERPRINTS, 'w') as f:
        json.dump(_fingerprints(), f, indent=1, sort_keys=True)
        f.write('\n')
    print(f'wrote {FINGERPRINTS}')
