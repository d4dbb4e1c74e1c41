"""Our configs inherit as mmdet's: a user's config in another folder with
``_base_ = 'panet_mmdet::<config>'`` builds its runner, data loaders and
evaluator, and the demo one trains.

mmengine tags every dict that comes from a ``panet_mmdet::`` file with
``_scope_='panet_mmdet'`` and builds it in the registries of that scope
(panet_mmdet/registry.py); without them the runner looked datasets,
transforms, metrics and hooks up in mmengine's root registries
(``KeyError: 'CocoDataset is not in the mmengine::dataset registry'``).
Each config is pointed at the demo data (tests/conftest.py ``tiny_data``)
with the overrides a user makes for their own data: paths, classes and
loader workers.
"""
import contextlib
import glob
import importlib.util
import json
import math
import os.path as osp
import re
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.registry import (HOOKS, METRICS, MODELS, TRANSFORMS,
                               DefaultScope, Registry)
from mmengine.runner import Runner

import panet_mmdet  # noqa: F401  (the panet_mmdet:: config scope)
from panet_mmdet.demo_data.shapes import CLASSES
from conftest import ROOT

CONFIGS = sorted(
    osp.relpath(p, osp.join(ROOT, 'configs')) for p in glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)
DEMO = 'demo/panet_r18_bufpn-gn_demo.py'


def _user_config(tmp_path, config, text=''):
    """A user's config, in a folder of its own, that inherits ``config``
    through ``panet_mmdet::``."""
    folder = tmp_path / 'my_project' / 'configs'
    folder.mkdir(parents=True)
    path = folder / 'my_config.py'
    path.write_text(f'_base_ = {"panet_mmdet::" + config!r}\n{text}')
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(tmp_path / 'work_dir')
    return cfg


def _innermost(dataset):
    """The dataset a wrapper (``RepeatDataset``, ...) holds, or itself."""
    while 'dataset' in dataset:
        dataset = dataset.dataset
    return dataset


def _metrics(evaluator):
    return list(evaluator) if isinstance(evaluator, list) else [evaluator]


def _on_demo_data(cfg, data_root):
    """What a user changes to run a config on their own COCO-format data:
    paths, classes, workers (``--cfg-options`` style: the config's dicts
    and their scopes stay)."""
    root = data_root.rstrip('/') + '/'
    val_ann = root + 'annotations/instances_val.json'
    for loader, split in (('train_dataloader', 'train'),
                          ('val_dataloader', 'val'), ('test_dataloader',
                                                      'val')):
        cfg[loader].update(num_workers=0, persistent_workers=False)
        _innermost(cfg[loader].dataset).update(
            data_root=root,
            ann_file=f'annotations/instances_{split}.json',
            data_prefix=dict(img=f'{split}/'),
            metainfo=dict(classes=CLASSES),
            serialize_data=False)  # saves a gc.collect() a dataset
    for metric in _metrics(cfg.val_evaluator) + _metrics(cfg.test_evaluator):
        if 'ann_file' in metric:
            metric.ann_file = val_ann
        if metric.type == 'CityScapesMetric':
            metric.update(
                seg_prefix=root + 'val',
                outfile_prefix=osp.join(cfg.work_dir, 'cityscapes'))
    cfg.val_evaluator = _buildable_metrics(cfg.val_evaluator)
    cfg.test_evaluator = _buildable_metrics(cfg.test_evaluator)
    if 'TIMMBackbone' in cfg.model.backbone.type:
        cfg.model.backbone.pretrained = False  # offline: no download


def _buildable_metrics(evaluator):
    """The evaluator's metrics, less mmdet's ``CityScapesMetric`` where
    cityscapesscripts (which it needs to be built) is not installed; that
    one's type must still resolve in its scope."""
    if importlib.util.find_spec('cityscapesscripts'):
        return evaluator
    kept = []
    for metric in _metrics(evaluator):
        if metric.type != 'CityScapesMetric':
            kept.append(metric)
            continue
        scope = metric.get('_scope_')
        with METRICS.switch_scope_and_registry(scope) as registry:
            assert registry.scope == scope
            assert registry.get(metric.type) is not None
    return kept if isinstance(evaluator, list) else kept[0]


def _one_batch(loader):
    batch = next(iter(loader))
    assert len(batch['inputs']) == len(batch['data_samples']) > 0
    return batch


def test_the_config_list_is_complete():
    assert DEMO in CONFIGS
    assert {c.split('/')[0] for c in CONFIGS} >= {'demo', 'drop_in', 'panet'}
    assert any(c.startswith('panet/official/') for c in CONFIGS)


@pytest.fixture
def format_config_once(monkeypatch):
    """A runner formats its config three times (to log, dump and hand it
    to the visualizer), each a yapf run of about a second: once will do."""
    formatted = {}
    pretty_text = Config.pretty_text.fget

    def once(cfg):
        if id(cfg) not in formatted:
            formatted[id(cfg)] = (cfg, pretty_text(cfg))
        return formatted[id(cfg)][1]

    monkeypatch.setattr(Config, 'pretty_text', property(once))


@pytest.fixture
def scopes_resolve(monkeypatch):
    """Fails the test where a config's dict names a scope that no registry
    of its kind has: mmengine then warns and builds it in the registry it
    was asked to use (often mmengine's root, where a type may or may not
    be)."""
    switch = Registry.switch_scope_and_registry
    missed = set()

    @contextlib.contextmanager
    def checked(self, scope):
        with switch(self, scope) as registry:
            current = DefaultScope.get_current_instance()
            if current and registry.scope != current.scope_name:
                missed.add((self.name, current.scope_name))
            yield registry

    monkeypatch.setattr(Registry, 'switch_scope_and_registry', checked)
    yield
    assert not missed, f'no registry for (kind, scope): {sorted(missed)}'


@pytest.mark.parametrize('config', CONFIGS)
def test_inherited_config_builds_its_runner(config, tiny_data, tmp_path,
                                            format_config_once,
                                            scopes_resolve):
    """The runner (model, hooks, visualizer), its train and val loops with
    their data loaders on the demo data and the evaluator, the optimizer and
    the LR schedule."""
    cfg = _user_config(tmp_path, config)
    _on_demo_data(cfg, tiny_data)
    cfg.experiment_name = osp.splitext(osp.basename(config))[0]
    runner = Runner.from_cfg(cfg)
    assert type(runner.model).__name__ == cfg.model.type
    batch = _one_batch(runner.train_loop.dataloader)
    assert all(len(s.gt_instances) for s in batch['data_samples'])
    _one_batch(runner.val_loop.dataloader)
    assert runner.val_loop.evaluator.metrics
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    assert runner.build_param_scheduler(runner.param_schedulers)


def test_demo_config_trains_an_iteration(tiny_data, tmp_path, scopes_resolve):
    """The README's recipe as a new user tries it: the demo config
    inherited, the data swapped; one training iteration, then validation
    and a checkpoint, with the config's own hooks."""
    cfg = _user_config(
        tmp_path, DEMO, 'train_cfg = dict(max_iters=1, val_interval=1)\n'
        'train_dataloader = dict(batch_size=2)\n'
        'default_hooks = dict(logger=dict(interval=1), '
        'checkpoint=dict(interval=1))\n')
    # the dicts of our files come with our scope: the case of the issue
    assert cfg.train_dataloader.dataset._scope_ == 'panet_mmdet'
    assert cfg.val_evaluator._scope_ == 'panet_mmdet'
    assert {h._scope_ for h in cfg.custom_hooks} == {'panet_mmdet'}
    _on_demo_data(cfg, tiny_data)
    runner = Runner.from_cfg(cfg)
    hooks = {type(h).__name__ for h in runner.hooks}
    assert {
        'AtomicCheckpointHook', 'RandomStateCheckpointHook',
        'DistributedLossAveragingHook', 'ProgressEstimateHook'
    } <= hooks
    runner.train()
    assert runner.iter == 1
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())
    assert 'val/coco/bbox_mAP' in runner.message_hub.log_scalars
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_1.pth'))


# panet_mmdet/registry.py: a child of every mmdet registry


def test_every_mmdet_registry_has_a_panet_mmdet_child():
    from mmdet import registry as mmdet_registry

    from panet_mmdet import registry
    names = [
        n for n, v in vars(mmdet_registry).items()
        if isinstance(v, Registry) and v.scope == 'mmdet'
    ]
    assert len(names) == 20 and {
        'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS', 'MODELS', 'VISUALIZERS'
    } <= set(names)
    for name in names:
        ours, parent = getattr(registry, name), getattr(mmdet_registry, name)
        assert ours.parent is parent and ours.scope == 'panet_mmdet', name
        assert ours.name == parent.name
        assert parent._get_root_registry()._search_child('panet_mmdet') is \
            ours, name
        ours.import_from_location()  # fails for a registry without any


@pytest.mark.parametrize('registry,name,where', [
    (HOOKS, 'AtomicCheckpointHook', 'panet_mmdet.engine'),
    (HOOKS, 'RandomStateCheckpointHook', 'panet_mmdet.engine'),
    (HOOKS, 'CheckpointHook', 'mmengine.hooks'),
    (HOOKS, 'DetVisualizationHook', 'mmdet.engine'),
    (TRANSFORMS, 'DetectronResize', 'panet_mmdet.datasets'),
    (TRANSFORMS, 'PackDetInputs', 'mmdet.datasets'),
    (TRANSFORMS, 'LoadImageFromFile', 'mmcv.transforms'),
    (MODELS, 'BottomUpAugmentedFPN', 'panet_mmdet.models'),
    (MODELS, 'MaskRCNN', 'mmdet.models'),
    (METRICS, 'CocoMetric', 'mmdet.evaluation'),
])
def test_both_scopes_find_our_modules_and_mmdets(registry, name, where):
    """Ours are registered in mmdet's and mmengine's registries: found under
    the scope ``panet_mmdet`` (configs inherited through ``panet_mmdet::``)
    and under ``mmdet`` (stock configs that import panet_mmdet)."""
    for scope in ('panet_mmdet', 'mmdet'):
        with registry.switch_scope_and_registry(scope) as scoped:
            assert scoped.scope == scope
            found = scoped.get(name)
            assert found is not None, (scope, name)
            assert found.__module__.startswith(where), (scope, found)


def test_panet_mmdet_scope_imports_mmdets_modules_it_needs():
    """A fresh process that imported panet_mmdet (which imports neither
    mmdet.engine nor mmdet.visualization) finds mmdet's visualizer and hooks
    under our scope: our registries import their parents' locations."""
    code = """if True:
        import json, sys
        import panet_mmdet
        from mmengine.registry import HOOKS, VISUALIZERS
        before = [m for m in ('mmdet.engine', 'mmdet.visualization')
                  if m in sys.modules]
        found = []
        for reg, name in ((VISUALIZERS, 'DetLocalVisualizer'),
                          (HOOKS, 'DetVisualizationHook')):
            with reg.switch_scope_and_registry('panet_mmdet') as r:
                found.append(r.get(name).__module__)
        print(json.dumps([before, found]))
    """
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    before, found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert before == []
    assert found == [
        'mmdet.visualization.local_visualizer',
        'mmdet.engine.hooks.visualization_hook'
    ]


def test_config_folders_are_names_mmengine_accepts():
    """mmengine resolves ``panet_mmdet::<folder>/...`` only where the first
    folder's name is word characters (its regex ``\\w*::\\w*/\\w*``):
    ``drop-in/`` could not be inherited."""
    folders = {c.split('/')[0] for c in CONFIGS}
    bad = sorted(f for f in folders if not re.fullmatch(r'\w+', f))
    assert not bad, f'configs/{bad}: name the folders with _ instead of -'
