"""Packaging as mmdet's: a built wheel carries configs/, tools/ and
model-index.yml in panet_mmdet/.mim/, so that after a non-editable install a
config with a ``panet_mmdet::`` base builds and ``mim search panet_mmdet``
lists the models; the editable install (the set-up's) resolves the same bases
to the checkout through symlinks.

The wheel goes into a fresh virtual environment that sees the project's
.venv packages (torch, mmcv, mmdet, openmim, ...) through a path entry after
its own site-packages, so nothing heavy is reinstalled. That path entry is a
plain directory on sys.path: .venv's .pth files (its editable finder for
panet_mmdet) are not run there, and the panet_mmdet imported is the wheel's.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import sysconfig
import zipfile

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE = 'panet_mmdet::panet/panet_r50_bufpn-gn_1x_coco.py'


def _metafile_models():
    with open(osp.join(ROOT, 'configs', 'panet', 'metafile.yml')) as f:
        return [m['Name'] for m in yaml.safe_load(f)['Models']]


def _run(cmd, cwd, **kw):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        **kw)
    assert proc.returncode == 0, (
        f'{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc.stdout


@pytest.fixture(scope='module')
def wheel_venv(panet_wheel, tmp_path_factory):
    """(python, site-packages) of a fresh venv with only the wheel in it."""
    venv = tmp_path_factory.mktemp('venv')
    _run([sys.executable, '-m', 'venv', '--without-pip',
          str(venv)],
         cwd=str(venv))
    python = str(venv / 'bin' / 'python')
    site = _run([
        python, '-c', 'import sysconfig; '
        'print(sysconfig.get_paths()["purelib"])'
    ],
                cwd=str(venv)).strip()
    # After the venv's own site-packages: the wheel's panet_mmdet wins.
    with open(osp.join(site, 'zz_panet_mmdet_stack.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    _run([
        sys.executable, '-m', 'pip', '--disable-pip-version-check', '--python',
        python, 'install', '-q', '--no-deps',
        str(panet_wheel)
    ],
         cwd=str(venv))
    return python, site


def test_wheel_contents(panet_wheel):
    names = zipfile.ZipFile(panet_wheel).namelist()
    mim = [n for n in names if n.startswith('panet_mmdet/.mim/')]
    for want in ('model-index.yml', 'configs/panet/metafile.yml',
                 'configs/panet/panet_r50_bufpn-gn_1x_coco.py',
                 'configs/_base_/default_runtime.py', 'tools/train.py',
                 'tools/test.py'):
        assert f'panet_mmdet/.mim/{want}' in mim, want
    assert not [n for n in mim if '__pycache__' in n or n.endswith('.pyc')]
    # Every config of every model in the model index is shipped.
    with open(osp.join(ROOT, 'configs', 'panet', 'metafile.yml')) as f:
        for model in yaml.safe_load(f)['Models']:
            assert f"panet_mmdet/.mim/{model['Config']}" in mim, model['Name']
    assert any(n.endswith('.dist-info/licenses/LICENSE') for n in names)
    meta = zipfile.ZipFile(panet_wheel).read(
        next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
    assert 'License-File: LICENSE' in meta


SCRIPT = r'''
import json, os.path as osp, sys
import panet_mmdet
from mmengine.config import Config
from mmengine.registry import DATASETS, HOOKS, METRICS
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
cfg = Config.fromfile('cfg.py')
register_all_modules()
model = MODELS.build(cfg.model)
# what a runner builds from the data, evaluator and hooks that our files
# define: through mmengine's root registries, in those of the panet_mmdet
# scope (panet_mmdet/registry.py)
demo = Config.fromfile('demo.py')
built = [
    DATASETS.build(dict(demo.train_dataloader.dataset, lazy_init=True)),
    METRICS.build(demo.val_evaluator),
    HOOKS.build(demo.custom_hooks[0])
]
print(json.dumps(dict(
    panet_file=panet_mmdet.__file__,
    base=Config._get_cfg_path(cfg_path, 'cfg.py')[0],
    neck=type(model.neck).__name__,
    mask_head=type(model.roi_head.mask_head).__name__,
    depth=model.backbone.depth,
    scopes=sorted({demo.train_dataloader.dataset._scope_,
                   demo.val_evaluator._scope_,
                   demo.custom_hooks[0]._scope_}),
    built=[type(b).__name__ for b in built],
    registry=sys.modules['panet_mmdet.registry'].__file__,
    editable=[p for p in sys.path if 'editable' in p] +
             [m for m in sys.modules if 'editable' in m])))
'''
DEMO = 'panet_mmdet::demo/panet_r18_bufpn-gn_demo.py'


def _config_dir(tmp_path):
    (tmp_path / 'cfg.py').write_text(
        f'_base_ = {BASE!r}\n'
        "custom_imports = dict(imports=['panet_mmdet'], "
        'allow_failed_imports=False)\n'
        'model = dict(backbone=dict(depth=18, init_cfg=None), '
        'neck=dict(in_channels=[64, 128, 256, 512]))\n')
    # no annotation file: CocoMetric then builds without one
    demo = f'_base_ = {DEMO!r}\nval_evaluator = dict(ann_file=None)\n'
    (tmp_path / 'demo.py').write_text(demo)
    return tmp_path


def test_wheel_resolves_panet_mmdet_bases(wheel_venv, tmp_path):
    python, site = wheel_venv
    cwd = _config_dir(tmp_path)
    out = _run([python, '-c', f'cfg_path = {BASE!r}\n' + SCRIPT], cwd=str(cwd))
    info = json.loads(out.strip().splitlines()[-1])
    pkg = osp.join(site, 'panet_mmdet')
    assert info['panet_file'] == osp.join(pkg, '__init__.py')
    assert info['base'] == osp.join(pkg, '.mim', 'configs', 'panet',
                                    'panet_r50_bufpn-gn_1x_coco.py')
    assert not osp.islink(osp.join(pkg, '.mim', 'configs'))
    assert info['editable'] == []
    assert info['neck'] == 'BottomUpAugmentedFPN'
    assert info['depth'] == 18
    assert info['scopes'] == ['panet_mmdet']
    assert info['built'] == [
        'CocoDataset', 'CocoMetric', 'RandomStateCheckpointHook'
    ]
    assert info['registry'] == osp.join(pkg, 'registry.py')


def test_mim_search_lists_the_models(wheel_venv, tmp_path):
    python, _ = wheel_venv
    out = _run([python, '-m', 'mim', 'search', 'panet_mmdet'],
               cwd=str(tmp_path))
    listed = {
        line.split(':', 1)[1].strip()
        for line in out.splitlines() if line.startswith('config id:')
    }
    assert listed == set(_metafile_models())


def test_editable_install_resolves_to_the_checkout(tmp_path):
    """The set-up's editable install: panet_mmdet/.mim/ links the checkout's
    configs/, so a ``panet_mmdet::`` base is the file under configs/."""
    from mmengine.config import Config

    import panet_mmdet
    pkg = osp.dirname(panet_mmdet.__file__)
    if osp.realpath(pkg) != osp.join(osp.realpath(ROOT), 'panet_mmdet'):
        pytest.skip(f'panet_mmdet imported from {pkg}, not this checkout')
    mim = osp.join(pkg, '.mim')
    assert osp.isdir(mim), (
        'panet_mmdet/.mim/ is missing: rerun `make setup` (or '
        '`pip install --no-build-isolation --no-deps -e .`)')
    for name in ('configs', 'tools', 'model-index.yml'):
        assert osp.realpath(osp.join(mim, name)) == osp.realpath(
            osp.join(ROOT, name)), name
    path, scope = Config._get_cfg_path(BASE, str(tmp_path / 'cfg.py'))
    assert scope == 'panet_mmdet'
    assert osp.realpath(path) == osp.realpath(
        osp.join(ROOT, 'configs', 'panet', 'panet_r50_bufpn-gn_1x_coco.py'))
    cfg = Config.fromfile(str(_config_dir(tmp_path) / 'cfg.py'))
    assert cfg.model.neck.type == 'BottomUpAugmentedFPN'
    assert cfg.model.backbone.depth == 18
