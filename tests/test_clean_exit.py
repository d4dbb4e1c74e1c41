"""Distributed runs end for whoever waits on their output: a rank that ends
with os._exit (exit_without_teardown) first stops its DataLoader workers,
so no process of the run is left and the caller's pipe reaches EOF. The
launchers' runs (torchrun on one and two nodes, dist_test.sh, Slurm) are
checked for both in tests/test_cluster.py."""
import os
import subprocess
import sys
import threading
import time

from conftest import ROOT, launcher_env

DEMO = 'configs/demo/panet_r18_bufpn-gn_demo.py'  # persistent workers


def _processes_naming(text):
    """PIDs of live processes whose command line contains ``text`` (forked
    DataLoader workers carry their parent's)."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read().decode(errors='replace')
            with open(f'/proc/{pid}/stat') as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != 'Z':
            found.append(int(pid))
    return found


def _run(cmds, marker, timeout=240):
    """Start the commands with stdout piped, read them to EOF; return
    (seconds from the last line mentioning ``marker`` to EOF, outputs)."""
    procs = [
        subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True) for cmd, env in cmds
    ]
    last, outputs = [0.], [[] for _ in procs]

    def read(i, proc):
        for line in proc.stdout:
            outputs[i].append(line)
            if marker in line:
                last[0] = max(last[0], time.monotonic())

    threads = [
        threading.Thread(target=read, args=(i, p), daemon=True)
        for i, p in enumerate(procs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    eof = time.monotonic()
    assert not any(t.is_alive() for t in threads), 'no EOF on stdout'
    for p in procs:
        assert p.wait(30) == 0, ''.join(outputs[procs.index(p)])[-3000:]
    return eof - last[0], [''.join(o) for o in outputs]


def test_stop_child_processes_stops_persistent_workers(tmp_path):
    """The reported hang in small: workers with batches in flight (their
    feeder threads block on a full pipe) when the parent ends with
    os._exit. Without stopping them, they never exit and hold the pipe."""
    script = tmp_path / 'loader.py'
    script.write_text(
        'import torch\n'
        'from torch.utils.data import DataLoader\n'
        'from panet_mmdet.engine import exit_without_teardown\n'
        'data = [torch.zeros(256, 1024) for _ in range(64)]  # 1 MB each\n'
        'loader = DataLoader(data, batch_size=4, num_workers=2,\n'
        '                    persistent_workers=True)\n'
        'for i, batch in enumerate(loader):\n'
        '    if i == 1:\n'
        '        break  # the other batches stay in flight\n'
        'print("iterated", flush=True)\n'
        'exit_without_teardown(0)\n')
    took, out = _run([([sys.executable, str(script)], launcher_env())],
                     'iterated',
                     timeout=60)
    # stopped at once, not when their watchdog notices the parent (5 s)
    assert 'iterated' in out[0] and took < 3, took
    assert not _processes_naming(str(script))
