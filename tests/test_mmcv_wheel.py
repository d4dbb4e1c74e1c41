"""tools/mmcv_wheel.py: the set-up's choice of an mmcv wheel by its ops."""
import os.path as osp
import sys
import zipfile

import pytest

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools'))
import mmcv_wheel  # noqa: E402

NAME = 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'


def _wheel(folder, cuda, ext=True):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME
    body = b'\0' * (3 << 20)  # the marker past the first read
    if cuda:
        body += b'\0__cudaRegisterFatBinary\0'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('mmcv/__init__.py', '')
        if ext:
            z.writestr('mmcv/_ext.cpython-311-x86_64-linux-gnu.so', body)
    return str(path)


def test_ops_of_a_wheel(tmp_path):
    assert mmcv_wheel.wheel_ops(_wheel(tmp_path / 'a', cuda=False)) == 'cpu'
    assert mmcv_wheel.wheel_ops(_wheel(tmp_path / 'b', cuda=True)) == 'cuda'
    with pytest.raises(ValueError, match='no compiled ops'):
        mmcv_wheel.wheel_ops(_wheel(tmp_path / 'c', cuda=False, ext=False))


def test_folders_name_the_ops(tmp_path):
    assert mmcv_wheel.folder('C', None) == osp.join('C', 'ops-cpu')
    assert mmcv_wheel.folder('C', '8.0;9.0+PTX') == osp.join(
        'C', 'ops-cuda-8.0_9.0+PTX')
    for bad in ('sm_90', '9', ';'):
        with pytest.raises(ValueError, match='arch list'):
            mmcv_wheel.folder('C', bad)


@pytest.mark.parametrize(
    'archs, capability, runs',
    [
        (['8.0'], '8.6', True),  # same major, older minor: binary compatible
        (['8.6'], '8.0', False),
        (['8.0'], '9.0', False),
        (['8.0+PTX'], '9.0', True),  # PTX, compiled for the newer GPU at load
        (['9.0+PTX'], '8.0', False),
        (['7.0', '9.0'], '9.0', True),
    ])
def test_arch_coverage(archs, capability, runs):
    assert mmcv_wheel.covers(archs, capability) is runs


def test_a_gpu_machine_never_gets_a_cpu_wheel(tmp_path):
    cache = tmp_path / 'torch-2.13.0_cu130'
    legacy = _wheel(cache, cuda=False)  # an older set-up's flat cache
    pick = mmcv_wheel.pick
    assert pick(str(cache), '2.1.0', 'cp311', 'cpu') == legacy
    assert pick(str(cache), '2.1.0', 'cp311', 'cuda:9.0') is None
    cpu = _wheel(cache / 'ops-cpu', cuda=False)
    assert pick(str(cache), '2.1.0', 'cp311', 'cpu') == cpu
    assert pick(str(cache), '2.1.0', 'cp311', 'cuda:9.0') is None
    ampere = _wheel(cache / 'ops-cuda-8.0_8.6', cuda=True)
    assert pick(str(cache), '2.1.0', 'cp311', 'cuda:9.0') is None
    assert pick(str(cache), '2.1.0', 'cp311', 'cuda:8.9') == ampere
    hopper = _wheel(cache / 'ops-cuda-9.0', cuda=True)
    assert pick(str(cache), '2.1.0', 'cp311', 'cuda:9.0') == hopper
    # a CPU machine prefers the CPU wheel, another Python finds none
    assert pick(str(cache), '2.1.0', 'cp311', 'cpu') == cpu
    assert pick(str(cache), '2.1.0', 'cp312', 'cpu') is None


def test_need_on_this_machine():
    import torch
    need = mmcv_wheel.need()
    if torch.cuda.is_available():
        assert need.startswith('cuda:')
    else:
        assert need == 'cpu'


def test_cli_usage_and_choices(tmp_path, capsys):
    assert mmcv_wheel.main(['pick']) == 2
    assert 'verify-cuda' in capsys.readouterr().err
    wheel = _wheel(tmp_path, cuda=True)
    assert mmcv_wheel.main(['ops', wheel]) == 0
    assert capsys.readouterr().out == 'cuda\n'


@pytest.mark.gpu
def test_installed_mmcv_runs_on_the_gpu():
    mmcv_wheel.verify_cuda()
