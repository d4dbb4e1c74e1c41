"""CPU distributed set-up: torchrun's variables from Slurm's, named errors."""
import os
import stat
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from panet_mmdet.engine import setup_cpu_distributed, torchrun_env_from_slurm

SLURM = dict(
    SLURM_PROCID='3',
    SLURM_NTASKS='4',
    SLURM_LOCALID='1',
    SLURM_JOB_NODELIST='node[7-8]')
TORCHRUN = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


@pytest.fixture
def clean_env(monkeypatch):
    """No torchrun or Slurm variables; afterwards the environment exactly as
    before (torchrun_env_from_slurm writes os.environ itself, which
    monkeypatch would not undo, and a leaked MASTER_ADDR would send later
    distributed tests to a host that does not exist)."""
    saved = dict(os.environ)
    for k in TORCHRUN + tuple(SLURM):
        monkeypatch.delenv(k, raising=False)
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)


def _fake_scontrol(tmp_path, monkeypatch, hosts):
    """An ``scontrol`` on PATH that expands any node list to ``hosts``."""
    script = tmp_path / 'scontrol'
    script.write_text('#!/bin/sh\n[ "$1 $2" = "show hostnames" ] || exit 1\n' +
                      ''.join(f'echo {h}\n' for h in hosts))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', f'{tmp_path}{os.pathsep}{os.environ["PATH"]}')


def test_slurm_variables_become_torchrun_variables(clean_env, tmp_path):
    for k, v in SLURM.items():
        clean_env.setenv(k, v)
    _fake_scontrol(tmp_path, clean_env, ['node7', 'node8'])
    torchrun_env_from_slurm()
    assert {
        k: os.environ[k]
        for k in TORCHRUN
    } == dict(
        RANK='3',
        WORLD_SIZE='4',
        LOCAL_RANK='1',
        MASTER_ADDR='node7',
        MASTER_PORT='29500')


def test_slurm_keeps_a_given_master(clean_env):
    for k, v in SLURM.items():
        clean_env.setenv(k, v)
    clean_env.setenv('MASTER_ADDR', '10.0.0.5')  # no scontrol needed
    clean_env.setenv('MASTER_PORT', '29610')
    torchrun_env_from_slurm()
    assert (os.environ['MASTER_ADDR'], os.environ['MASTER_PORT']) == \
        ('10.0.0.5', '29610')


def test_missing_slurm_variables_are_named(clean_env):
    clean_env.setenv('SLURM_PROCID', '0')
    with pytest.raises(RuntimeError, match='SLURM_NTASKS'):
        torchrun_env_from_slurm()


def test_unexpandable_node_list_is_named(clean_env, tmp_path):
    for k, v in SLURM.items():
        clean_env.setenv(k, v)
    clean_env.setenv('PATH', str(tmp_path))  # no scontrol at all
    with pytest.raises(RuntimeError, match='MASTER_ADDR'):
        torchrun_env_from_slurm()


def test_bad_launcher_and_missing_torchrun_env(clean_env):
    with pytest.raises(ValueError, match='launcher'):
        setup_cpu_distributed(Config(), 'mpi')
    if torch.cuda.is_available():
        pytest.skip('with CUDA, mmengine initialises the process group')
    with pytest.raises(RuntimeError, match='RANK'):
        setup_cpu_distributed(Config(), 'pytorch')


def test_unusable_gpus_are_not_a_silent_cpu_run(clean_env):
    """GPUs present, torch unable to use them (a driver too old for its
    CUDA build): a distributed run refuses and says why and what to do,
    instead of training on the CPU; an empty CUDA_VISIBLE_DEVICES means
    CPU on purpose."""
    from panet_mmdet.engine import cpu_distributed
    if torch.cuda.is_available():
        pytest.skip('CUDA works here')

    def too_old():
        raise RuntimeError('The NVIDIA driver on your system is too old '
                           '(found version 11040).\nPlease update it.')

    clean_env.setattr(cpu_distributed, '_nvidia_devices',
                      lambda: ['/dev/nvidia0'])
    clean_env.setattr(torch.cuda, 'init', too_old)
    clean_env.setattr(torch.version, 'cuda', '13.0')
    clean_env.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    with pytest.raises(RuntimeError) as e:
        setup_cpu_distributed(Config(), 'pytorch')
    message = str(e.value)
    assert 'driver on your system is too old (found version 11040)' in message
    assert 'CUDA_VISIBLE_DEVICES= (empty)' in message
    clean_env.setattr(torch.version, 'cuda', None)
    assert 'CPU-only build' in cpu_distributed.cuda_unusable_reason()
    # hidden on purpose: on to the CPU path (here: no torchrun variables)
    clean_env.setenv('CUDA_VISIBLE_DEVICES', '')
    assert cpu_distributed.cuda_unusable_reason() is None
    with pytest.raises(RuntimeError, match='torchrun environment'):
        setup_cpu_distributed(Config(), 'pytorch')


def test_environment_is_restored_after_the_slurm_tests():
    """Runs after the tests above in the same process: nothing leaked."""
    assert os.environ.get('MASTER_ADDR') != 'node7'
    assert 'SLURM_JOB_NODELIST' not in os.environ or \
        os.environ['SLURM_JOB_NODELIST'] != SLURM['SLURM_JOB_NODELIST']


def _run_python(code):
    """Run ``code`` in a fresh interpreter (a process group, or an exit,
    must not touch this one); return the completed process."""
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_leave_distributed_destroys_the_group_once(tmp_path):
    """A one-process gloo group (in a child process, so this one keeps no
    group) is gone after leave_distributed(), which says so; a second call,
    and a call without any group, do nothing and return False."""
    code = ('import torch.distributed as dist\n'
            'from panet_mmdet.engine import leave_distributed\n'
            'assert leave_distributed() is False\n'
            'dist.init_process_group("gloo", '
            f'init_method="file://{tmp_path}/store", rank=0, world_size=1)\n'
            'assert dist.is_initialized()\n'
            'assert leave_distributed() is True\n'
            'assert not dist.is_initialized()\n'
            'assert leave_distributed() is False\n'
            'print("left")\n')
    proc = _run_python(code)
    assert proc.returncode == 0 and 'left' in proc.stdout, proc.stderr[-3000:]


def test_exit_without_teardown_flushes_and_skips_finalisation(tmp_path):
    """exit_without_teardown(3) exits with 3 and loses no output (stdout
    into a pipe, a logging handler that buffers records) while no atexit
    handler runs: the interpreter's teardown, where a leaked gloo group is
    destroyed, is skipped. Both outputs would be lost without its flushing."""
    log = tmp_path / 'run.log'
    code = ('import atexit, logging, logging.handlers\n'
            'from panet_mmdet.engine import exit_without_teardown\n'
            'logger = logging.getLogger("teardown")\n'
            'logger.addHandler(logging.handlers.MemoryHandler(\n'
            f'    100, target=logging.FileHandler({str(log)!r})))\n'
            'logger.warning("logged line")\n'
            'atexit.register(lambda: print("atexit ran"))\n'
            'print("last words", end="")\n'
            'exit_without_teardown(3)\n'
            'print("not reached")\n')
    proc = _run_python(code)
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert proc.stdout == 'last words'
    assert log.read_text() == 'logged line\n'
