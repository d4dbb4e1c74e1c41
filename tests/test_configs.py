"""Every config in configs/ builds and runs a loss and a predict at a small
input; the built models and the configs' data (loaders, pipelines,
evaluators) match their records; pipelines are written in configs/_base_/.

Regenerate the records after an intended model or data change with
``python tests/test_configs.py --update-fingerprints`` (and say why in the
commit).
"""
import collections
import copy
import functools
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
DATA_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader',
             'val_evaluator', 'test_evaluator')


@functools.lru_cache(maxsize=None)
def _read(config):
    return Config.fromfile(osp.join(ROOT, config))


def _load(config):
    """The config, read once a session: a copy to change."""
    return copy.deepcopy(_read(config))


def _build(cfg):
    torch.manual_seed(0)
    # no init_weights and timm backbones without pretrained: nothing downloads
    return build_detector(cfg)


@pytest.fixture(scope='module')
def records():
    with open(FINGERPRINTS) as f:
        return json.load(f)


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


def _without_scopes(value):
    """``value`` as JSON has it (tuples as lists), without the ``_scope_``
    keys that mmengine gives the dicts of ``pkg::`` bases."""
    if isinstance(value, dict):
        return {
            k: _without_scopes(v)
            for k, v in value.items() if k != '_scope_'
        }
    if isinstance(value, (list, tuple)):
        return [_without_scopes(v) for v in value]
    return value


def data_record(cfg):
    """A config's data: its resolved loaders (datasets, pipelines,
    samplers) and evaluators."""
    resolved = cfg.to_dict()
    return {k: _without_scopes(resolved[k]) for k in DATA_KEYS}


def _differences(got, want, path=''):
    """Where two JSON-like values differ, as ``a.b[2].c`` paths."""
    if isinstance(got, dict) and isinstance(want, dict):
        return [
            d for k in sorted(set(got) | set(want)) for d in _differences(
                got.get(k, '<none>'), want.get(k, '<none>'), f'{path}.{k}')
        ]
    if isinstance(got, list) and isinstance(want, list) and \
            len(got) == len(want):
        return [
            d for i, (g, w) in enumerate(zip(got, want))
            for d in _differences(g, w, f'{path}[{i}]')
        ]
    return [] if got == want else [f'{path}: {want!r} -> {got!r}']


def _records():
    """Each config's fingerprint and data; data that a config before it (in
    CONFIGS' order) has is recorded as that config's name."""
    out, first = {}, {}
    for config in CONFIGS:
        cfg = _load(config)
        data = data_record(cfg)
        same = first.setdefault(json.dumps(data, sort_keys=True), config)
        out[config] = dict(
            fingerprint(_build(cfg)), data=data if same == config else same)
    return out


def _recorded_data(records, config):
    data = records[config]['data']
    return records[data]['data'] if isinstance(data, str) else data


def test_records_cover_every_config(records):
    assert sorted(records) == CONFIGS, 'configs added or removed: update'


def test_pipelines_are_written_in_bases():
    """House rule: no config restates a pipeline. They are written once,
    in configs/_base_/datasets/ (or mmdet's bases); a config that needs
    another changes a base's steps, as
    configs/panet/panet_r50_bufpn-gn_ms-3x_coco.py does."""
    restating = []
    for config in CONFIGS:
        with open(osp.join(ROOT, config)) as f:
            if 'LoadImageFromFile' in f.read():
                restating.append(config)
    assert not restating


@pytest.mark.parametrize('config', CONFIGS)
def test_config_data_matches_its_record(config, records):
    """Refactors (shared bases instead of restated pipelines) leave every
    config's data loaders and evaluators as they were."""
    changed = _differences(
        data_record(_load(config)), _recorded_data(records, config))
    assert not changed, '\n'.join(changed)


def _small_budgets(cfg):
    """``cfg`` with at most 32 proposals, 16 sampled RoIs and 10 detections
    an image: the RoI heads, not the backbone, cost the time of a loss and
    a predict at 96-128 px. No score threshold: an untrained model's scores
    (about 1 / 81 for COCO) are below the configs' 0.05, and its prediction
    would stop before NMS and the mask head. The modules, and so the
    fingerprint, stay as they are."""
    train, test = cfg.model.train_cfg, cfg.model.test_cfg
    if 'rpn_proposal' in train:  # two-stage
        train.rpn_proposal.update(nms_pre=128, max_per_img=32)
        stages = train.rcnn if isinstance(train.rcnn, list) else [train.rcnn]
        for stage in stages:
            stage.sampler.num = min(stage.sampler.num, 16)
        test.rpn.update(nms_pre=128, max_per_img=32)
        test.rcnn.update(
            max_per_img=min(test.rcnn.max_per_img, 10), score_thr=0.)
    else:  # single-stage
        test.update(nms_pre=128, max_per_img=10, score_thr=0.)
    return cfg


def _num_classes(model_cfg):
    head = model_cfg.roi_head.bbox_head if 'roi_head' in model_cfg \
        else model_cfg.bbox_head
    return (head[0] if isinstance(head, list) else head).num_classes


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_and_runs_a_loss_and_a_predict(config, records):
    """Each config's model, built once: it matches its fingerprint, and
    runs a training loss (and its backward pass) and a prediction on two
    small images."""
    from mmdet.testing import demo_mm_inputs
    cfg = _load(config)
    if 'demo' not in config:
        assert cfg.custom_imports.imports[0] == 'panet_mmdet'
    if 'coco' in config or 'cityscapes' in config:
        # real-data configs keep an ImageNet-pretrained backbone: mmdet's,
        # or timm's weights
        assert 'torchvision://' in str(cfg.model.backbone.get('init_cfg')) or \
            'open-mmlab://' in str(cfg.model.backbone.get('init_cfg')) or \
            cfg.model.backbone.get('pretrained') is True
    model = _build(_small_budgets(cfg))
    recorded = {k: v for k, v in records[config].items() if k != 'data'}
    assert fingerprint(model) == recorded
    if 'bufpn' in config or osp.basename(config).startswith('panet'):
        assert type(model.neck).__name__ == 'BottomUpAugmentedFPN'

    shapes = [(96, 128), (128, 96)]
    packed = demo_mm_inputs(
        2, [[3, *shape] for shape in shapes],
        num_items=[3, 2],
        num_classes=_num_classes(cfg.model),
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
    for result, shape in zip(results, shapes):
        assert result.pred_instances.bboxes.shape[1:] == (4, )
        assert 0 < len(result.pred_instances) <= 10
        if model.with_mask:
            assert result.pred_instances.masks.shape[1:] == shape


def test_variants_share_the_panet_model_base():
    base = _load('configs/_base_/models/panet_r50_bufpn-gn.py').model
    faster = _load(
        'configs/panet/panet-faster-rcnn_r50_bufpn-gn_1x_coco.py').model
    cityscapes = _load(
        'configs/panet/panet_r50_bufpn-gn_1x_cityscapes.py').model
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
    cfgs = [_load(c) for c, _ in COCO_LADDER]
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


if __name__ == '__main__' and sys.argv[1:] == ['--update-fingerprints']:
    with open(FINGERPRINTS, 'w') as f:
        json.dump(_records(), f, indent=1, sort_keys=True)
        f.write('\n')
    print(f'wrote {FINGERPRINTS}')
