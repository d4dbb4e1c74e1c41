"""tests/conftest.py on a GPU machine (simulated): the tools the tests start
and the library's default device are the CPU's, the gpu tests keep CUDA."""
import os
from types import SimpleNamespace

import torch

import panet_mmdet.apis as apis
import conftest


def _session(dist):
    return SimpleNamespace(
        config=SimpleNamespace(option=SimpleNamespace(dist=dist)))


def test_a_gpu_machine_runs_the_suite_on_the_cpu(monkeypatch):
    inits = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(conftest, '_cuda_here', lambda: True)
    monkeypatch.setattr(torch.cuda, 'init', lambda: inits.append(1))
    monkeypatch.setattr(apis, 'default_device', apis.default_device)
    monkeypatch.delenv('PANET_TEST_GPU_VISIBLE', raising=False)
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '0,1')
    conftest.pytest_sessionstart(_session('loadfile'))  # an xdist controller
    assert os.environ['CUDA_VISIBLE_DEVICES'] == '0,1' and not inits
    assert apis.default_device() == 'cuda'
    conftest.pytest_sessionstart(_session('no'))  # a worker, or no xdist
    assert inits == [1]  # CUDA initialised here before hiding the GPUs
    assert os.environ['CUDA_VISIBLE_DEVICES'] == ''
    assert os.environ['PANET_TEST_GPU_VISIBLE'] == '0,1'
    assert apis.default_device() == 'cpu'
