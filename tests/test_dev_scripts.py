"""tools/dev/compare_reference_with_authors.py: it refuses, with a message
naming what is missing, a path that is not a checkout of the authors'
repository, and its NMS port agrees with the reference's. The comparison
itself needs their repository: it runs here only when PANET_AUTHORS_REPO
names a checkout (about 10 minutes on 2 CPU cores for the three models)."""
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest

from conftest import ROOT, run_tool
from reference import authors_panet as A

SCRIPT = 'tools/dev/compare_reference_with_authors.py'


def _script():
    spec = importlib.util.spec_from_file_location('compare_with_authors',
                                                  osp.join(ROOT, SCRIPT))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_missing_directory_is_refused(tmp_path):
    proc = run_tool([SCRIPT, str(tmp_path / 'nowhere')], check=False)
    assert proc.returncode == 2
    assert 'is not a directory' in proc.stderr
    assert 'ShuLiu1993/PANet' in proc.stderr


def test_a_directory_without_their_code_is_refused(tmp_path):
    (tmp_path / 'lib').mkdir()
    proc = run_tool([SCRIPT, str(tmp_path)], check=False)
    assert proc.returncode == 2
    assert 'is not a checkout of ShuLiu1993/PANet' in proc.stderr
    for name in ('lib/modeling/FPN.py', 'lib/core/test.py',
                 'configs/panet/e2e_panet_R-50-FPN_2x_mask.yaml'):
        assert name in proc.stderr


def test_their_files_without_importable_code_are_refused(tmp_path):
    """Every required file present but empty: the import fails and the
    message says which module."""
    for name in _script().REQUIRED:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('')
    proc = run_tool([SCRIPT, str(tmp_path)], check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'cannot be imported here' in proc.stderr
    assert 'No module named' in proc.stderr


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_the_nms_port_keeps_what_the_reference_keeps(dtype):
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (400, 2))
    wh = rng.uniform(1, 80, (400, 2))
    dets = np.hstack([xy, xy + wh, rng.uniform(0, 1, (400, 1))]).astype(dtype)
    keep = _script().cython_nms_port(dets, 0.5)
    assert 10 < len(keep) < 400
    np.testing.assert_array_equal(keep, A.nms(dets, 0.5))


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get('PANET_AUTHORS_REPO'),
    reason='PANET_AUTHORS_REPO (a checkout of ShuLiu1993/PANet) not set')
def test_the_reference_computes_what_their_code_computes():
    proc = run_tool([SCRIPT, os.environ['PANET_AUTHORS_REPO']], check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert 'all parts within tolerance' in proc.stdout


def test_gpu_check_says_there_is_no_gpu_and_fails_at_once():
    import torch
    if torch.cuda.is_available():
        pytest.skip('a GPU is here: gpu_check would run')
    proc = run_tool(['tools/dev/gpu_check.py'], check=False, timeout=120)
    assert proc.returncode == 2
    assert 'no usable GPU here' in proc.stderr


def test_gpu_check_component_comparison_rehearsed_on_the_cpu():
    """gpu_check's components step, CPU against CPU: fp32 equal, bf16
    autocast close (the same code compares CUDA fp32 and fp16)."""
    import torch
    spec = importlib.util.spec_from_file_location(
        'gpu_check', osp.join(ROOT, 'tools', 'dev', 'gpu_check.py'))
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    results = gpu_check.compare_components('cpu', torch.bfloat16)
    assert set(results) == {
        f'{part}_{kind}_rel'
        for part in ('neck', 'afp', 'mask_head')
        for kind in ('fp32', 'half')
    }
    assert all(results[k] == 0 for k in results if 'fp32' in k), results
    assert all(0 < results[k] < 0.05 for k in results if 'half' in k), results
