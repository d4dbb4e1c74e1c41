"""The ONNX Runtime path installed where torch is not: a fresh venv.

A venv from the same base interpreter gets onnxruntime, numpy and
opencv-python (the versions of this environment, with onnxruntime's own
dependencies) and a wheel of this package installed with ``--no-deps``.
No torch, mmcv or mmdet. There, out of the checkout's reach,
``python -m panet_mmdet.deployment.onnx_infer`` and the checkout's
``tools/deployment/onnx_infer.py`` run a PANet exported here and give
what the in-process runtime gives.
"""
import importlib.metadata as metadata
import json
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

PANET_DEMO = osp.join(ROOT, 'configs', 'demo', 'panet_r18_bufpn-gn_demo.py')
RUNTIME_PACKAGES = ('onnxruntime', 'numpy', 'opencv-python')
# pip's words when the package index cannot be reached
_OFFLINE = re.compile(r'Failed to establish|Temporary failure in name '
                      r'resolution|Network is unreachable|ProxyError|'
                      r'No matching distribution found')


def _pins():
    """``name==version`` of the runtime packages and of onnxruntime's own
    requirements, as installed here."""
    names = list(RUNTIME_PACKAGES)
    for req in metadata.requires('onnxruntime') or []:
        if 'extra ==' not in req:
            names.append(re.match(r'[A-Za-z0-9_.-]+', req).group(0))
    return sorted({f'{n}=={metadata.version(n)}' for n in names})


def _run(cmd, cwd, env=None, check=True):
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} exited {proc.returncode}\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


def _clean_env():
    """No way back to the checkout or this environment's packages."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP',
                     'VIRTUAL_ENV', 'PYTHONUSERBASE')
    }
    env.update(PYTHONNOUSERSITE='1', OMP_NUM_THREADS='2')
    return env


@pytest.fixture(scope='module')
def torch_free_python(tmp_path_factory, panet_wheel):
    """The ``python`` of a venv with the runtime packages and panet_mmdet
    only."""
    work = str(tmp_path_factory.mktemp('torch_free'))
    wheel = str(panet_wheel)
    venv = osp.join(work, 'venv')
    _run([sys._base_executable, '-m', 'venv', '--without-pip', venv], cwd=work)
    python = osp.join(venv, 'bin', 'python')
    proc = _run([
        sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
        '--disable-pip-version-check', *_pins()
    ],
                cwd=work,
                check=False)
    if proc.returncode != 0 and _OFFLINE.search(proc.stderr):
        pytest.skip(f'the package index is out of reach: {proc.stderr[-300:]}')
    assert proc.returncode == 0, proc.stderr[-5000:]
    _run([
        sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
        '--disable-pip-version-check', '--no-deps', wheel
    ],
         cwd=work)
    return python


@pytest.fixture(scope='module')
def panet_onnx(tmp_path_factory):
    """The demo PANet (random weights; its test resize: 256 px), and an
    image."""
    from panet_mmdet.apis import load_detector
    from panet_mmdet.deployment import export_onnx
    out = tmp_path_factory.mktemp('panet_onnx')
    model = load_detector(PANET_DEMO)
    onnx_path = export_onnx(model, str(out / 'panet.onnx'), (256, 256))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (96, 120, 3), np.uint8)
    cv2.rectangle(image, (20, 15), (80, 70), (30, 200, 90), -1)
    image_path = str(out / 'image.png')
    cv2.imwrite(image_path, image)
    return onnx_path, image_path


def test_venv_has_no_torch_but_the_runtime(torch_free_python, tmp_path):
    proc = _run([
        torch_free_python, '-c',
        ('import importlib.util as u, panet_mmdet, '
         'panet_mmdet.deployment.runtime as r\n'
         'assert r.compare_detections and r.detectron_numpy\n'
         'print(panet_mmdet.__file__)\n'
         'print([m for m in ("torch", "mmcv", "mmdet", "mmengine") '
         'if u.find_spec(m)])')
    ],
                cwd=str(tmp_path),
                env=_clean_env())
    package_file, missing = proc.stdout.splitlines()
    venv = osp.dirname(osp.dirname(torch_free_python))
    assert package_file.startswith(venv), package_file  # not the checkout
    assert missing == '[]', f'{missing} importable in the venv'
    proc = _run([torch_free_python, '-c', 'import torch'],
                cwd=str(tmp_path),
                env=_clean_env(),
                check=False)
    assert proc.returncode != 0 and 'No module named' in proc.stderr


@pytest.mark.parametrize('entry', ['module', 'tools-script', 'console'])
def test_onnx_infer_in_the_venv_equals_the_runtime_here(
        torch_free_python, panet_onnx, entry, tmp_path):
    from panet_mmdet.deployment.runtime import OnnxDetector, draw_detections
    onnx_path, image_path = panet_onnx
    vis, preds = str(tmp_path / 'vis.png'), str(tmp_path / 'preds.json')
    command = {
        'module':
        [torch_free_python, '-m', 'panet_mmdet.deployment.onnx_infer'],
        'tools-script': [
            torch_free_python,
            osp.join(ROOT, 'tools', 'deployment', 'onnx_infer.py')
        ],
        # setup.py's console script, installed with the wheel
        'console':
        [osp.join(osp.dirname(torch_free_python), 'panet-onnx-infer')],
    }[entry]
    proc = _run([
        *command, onnx_path, image_path, '--out', vis, '--save-pred', preds,
        '--score-thr', '0.05'
    ],
                cwd=str(tmp_path),
                env=_clean_env())
    assert re.search(r'\d+ detections, \d+ drawn', proc.stdout), proc.stdout

    detector = OnnxDetector(onnx_path)
    image = cv2.imread(image_path)
    direct = detector(image)
    assert len(direct['scores']) > 0 and 'masks' in direct  # not vacuous
    record = json.load(open(preds))
    assert record['labels'] == direct['labels'].tolist()
    np.testing.assert_allclose(record['scores'], direct['scores'], atol=1e-5)
    np.testing.assert_allclose(record['bboxes'], direct['bboxes'], atol=2e-3)
    assert record['classes'] == detector.meta['classes']
    # boxes, labels and masks drawn the same, pixel for pixel
    expected = draw_detections(image, direct, detector.meta['classes'],
                               detector.meta['palette'], 0.05)
    np.testing.assert_array_equal(cv2.imread(vis), expected)
