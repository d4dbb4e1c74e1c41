"""The tests' served interpreter (tests/tool_server.py,
``conftest.served_python()``) runs a command line as a fresh interpreter
would: same argv, working directory, environment, sys.path head, __name__,
outputs, exit status (signals included), and panet_mmdet not imported
before the tool imports it; it passes signals on, its runs start served
runs, and the child ends with its caller."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT, pid_alive, run_tool, served_python

PROBE = textwrap.dedent('''
    import json, os, sys, time
    before = 'panet_mmdet' in sys.modules
    import torch
    print(json.dumps(dict(
        argv=sys.argv, cwd=os.getcwd(), name=__name__,
        knob=os.environ.get('PROBE_KNOB'), path0=sys.path[0],
        root_on_path=%r in sys.path, panet_before=before,
        site=getattr(sys.modules.get('sitecustomize'), 'MARK', None),
        threads=torch.get_num_threads())), flush=True)
    sys.stderr.write('to stderr\\n')
    what = sys.argv[1] if len(sys.argv) > 1 else ''
    if what == 'raise':
        raise ValueError('raised by the probe')
    if what == 'kill':
        os.kill(os.getpid(), 9)
    if what == 'nested':
        import subprocess
        sys.exit(subprocess.call([sys.executable, sys.argv[0], 'a']))
    if what.startswith('sleep:'):  # write the pid, then wait
        import signal
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(5))
        with open(what[6:], 'w') as f:
            f.write(str(os.getpid()))
        time.sleep(60)
    sys.exit(3)
''' % ROOT)


@pytest.fixture
def probe(tmp_path):
    path = tmp_path / 'probe.py'
    path.write_text(PROBE)
    return str(path)


def _wait_for_pid(path, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f'{path} never written')


def _gone(pid, timeout=10):
    end = time.time() + timeout
    while time.time() < end and pid_alive(pid):
        time.sleep(0.05)
    return not pid_alive(pid)


def test_a_served_run_equals_a_fresh_one(probe):
    env = dict(PROBE_KNOB='x', OMP_NUM_THREADS='1')
    runs = [
        run_tool([probe, 'a'], env=env, check=False, fresh=fresh)
        for fresh in (False, True)
    ]
    for proc in runs:
        assert proc.returncode == 3
        assert proc.stderr.endswith('to stderr\n'), proc.stderr
    served, fresh = (json.loads(p.stdout) for p in runs)
    assert served == fresh
    assert served['name'] == '__main__' and served['knob'] == 'x'
    assert served['argv'][1:] == ['a'] and served['cwd'] == ROOT
    assert served['root_on_path'] and not served['panet_before']
    assert served['threads'] == 1


@pytest.mark.parametrize('form', ['-c', '-', '-m'])
def test_code_stdin_and_module_forms_equal_a_fresh_run(tmp_path, form):
    (tmp_path / 'probe_mod.py').write_text(
        'import json, sys\n'
        'print(json.dumps([sys.argv, __name__, sys.path[0]]))\n')
    code = (tmp_path / 'probe_mod.py').read_text()
    args = {
        '-c': ['-c', code, 'x'],
        '-': ['-', 'x'],
        '-m': ['-m', 'probe_mod', 'x']
    }[form]
    outs = [
        subprocess.run(
            [python, '-u'] + args,
            input=code if form == '-' else None,
            cwd=str(tmp_path),
            capture_output=True,
            text=True,
            timeout=60) for python in (served_python(), sys.executable)
    ]
    assert outs[0].returncode == outs[1].returncode == 0, outs[0].stderr
    assert json.loads(outs[0].stdout) == json.loads(outs[1].stdout)


def test_a_served_run_that_raises_hangs_or_is_killed(probe, tmp_path):
    proc = run_tool([probe, 'raise'], check=False)
    assert proc.returncode == 1
    assert 'ValueError: raised by the probe' in proc.stderr
    # killed by a signal: the caller ends by the same signal
    assert run_tool([probe, 'kill'], check=False).returncode == -9
    # a timeout kills the caller; the server then kills the child
    pid_file = tmp_path / 'pid'
    with pytest.raises(subprocess.TimeoutExpired):
        run_tool([probe, f'sleep:{pid_file}'], timeout=4)
    assert _gone(_wait_for_pid(pid_file))
    # the server goes on serving
    assert run_tool([probe, 'a'], check=False).returncode == 3


def test_signals_reach_the_child_and_a_group_kill_takes_both(probe, tmp_path):
    for k, how in enumerate(('SIGTERM to the caller', 'SIGKILL to the group')):
        pid_file = tmp_path / f'pid{k}'
        proc = subprocess.Popen([served_python(), probe, f'sleep:{pid_file}'],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                process_group=0)
        child = _wait_for_pid(pid_file)
        assert child != proc.pid and os.getpgid(child) == proc.pid, how
        if how == 'SIGTERM to the caller':
            proc.send_signal(signal.SIGTERM)  # the child's handler exits 5
            assert proc.wait(30) == 5
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            assert proc.wait(30) == -signal.SIGKILL
        assert _gone(child), how


def test_a_caller_gone_before_the_child_started_takes_it_along(
        probe, tmp_path):
    """A caller killed between its request and the server's reply (the
    crash test kills runs that early): the reply finds a broken pipe, and
    the child still goes."""
    import socket
    import struct
    sock = os.path.join(os.path.dirname(served_python()), 'server.sock')
    pid_file = tmp_path / 'pid'
    body = json.dumps(
        dict(
            argv=[probe, f'sleep:{pid_file}'],
            env=dict(os.environ),
            cwd=ROOT,
            executable=served_python(),
            pgid=os.getpgid(0))).encode()
    with open(os.devnull, 'r+') as null:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(sock)
        socket.send_fds(conn, [struct.pack('!I', len(body))],
                        [null.fileno()] * 3)
        conn.sendall(body)
        conn.close()  # gone before the reply
    # a served child writes its pid within a fraction of a second; a
    # child left running is one whose pid file appears and stays alive
    end = time.time() + 3
    while time.time() < end and not pid_file.exists():
        time.sleep(0.05)
    assert not pid_file.exists() or _gone(_wait_for_pid(pid_file))


def test_served_runs_start_served_runs(probe):
    """sys.executable of a served run is the served interpreter."""
    proc = run_tool([probe, 'nested'], check=False)
    assert proc.returncode == 3, proc.stderr
    outer, inner = (json.loads(line) for line in proc.stdout.splitlines())
    assert inner['argv'] == [probe, 'a'] and outer['argv'] == [probe, 'nested']
    code = 'import sys; print(sys.executable)'
    nested = subprocess.run([served_python(), '-c', code],
                            capture_output=True,
                            text=True,
                            timeout=60)
    assert nested.stdout.strip() == served_python()


def test_startup_sitecustomize_and_what_it_refuses(probe, tmp_path):
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text('MARK = "imported"\n')
    env = dict(os.environ, PYTHONPATH=f'{site}{os.pathsep}{ROOT}')

    def run(*args, env=env, python=None):
        return subprocess.run([python or served_python(), *args],
                              env=env,
                              capture_output=True,
                              text=True,
                              timeout=60)

    proc = run(probe, 'a')
    assert proc.returncode == 3, proc.stderr
    assert json.loads(proc.stdout)['site'] == 'imported'
    assert proc.stdout == run(probe, 'a', python=sys.executable).stdout
    # a folder that shadows a preloaded package: not what a fresh
    # interpreter would do, so refused
    (tmp_path / 'shadow' / 'torch').mkdir(parents=True)
    (tmp_path / 'shadow' / 'torch' / '__init__.py').write_text('')
    proc = run(
        probe, env=dict(os.environ, PYTHONPATH=str(tmp_path / 'shadow')))
    assert proc.returncode == 2
    assert "shadows the preloaded 'torch'" in proc.stderr, proc.stderr
    proc = run('-X', 'dev', probe)
    assert proc.returncode == 2 and "option '-X'" in proc.stderr


def test_cached_metafiles_load_the_same_configs():
    """tests/metafile_cache.py (installed in the tests and the served
    interpreter) changes no loaded config, and it is in use."""
    from mmengine.config import Config, utils
    assert utils.load.metafile_cache
    configs = [
        'configs/demo/panet_r18_bufpn-gn_demo.py',
        'configs/panet/panet_r50_bufpn-gn_1x_coco.py',
        'configs/drop_in/retinanet_r50_bufpn_1x_coco.py'
    ]
    cached = [Config.fromfile(osp.join(ROOT, c)).to_dict() for c in configs]
    cached_load, utils.load = utils.load, utils.load.original
    try:
        fresh = [Config.fromfile(osp.join(ROOT, c)).to_dict() for c in configs]
    finally:
        utils.load = cached_load
    assert cached == fresh
    code = ('from mmengine.config import utils; '
            'print(getattr(utils.load, "metafile_cache", False))')
    assert run_tool(['-c', code]).stdout.strip() == 'True'
