"""The tests' fork server (tests/tool_server.py) runs a tool as a fresh
interpreter would: same argv, working directory, environment, sys.path
head, __name__, outputs and exit status, and panet_mmdet not imported
before the tool imports it."""
import json
import subprocess
import textwrap

import pytest

from conftest import ROOT, run_tool

PROBE = textwrap.dedent('''
    import json, os, sys
    before = 'panet_mmdet' in sys.modules
    import torch
    print(json.dumps(dict(
        argv=sys.argv, cwd=os.getcwd(), name=__name__,
        knob=os.environ.get('PROBE_KNOB'), path0=sys.path[0],
        root_on_path=%r in sys.path, panet_before=before,
        threads=torch.get_num_threads())))
    sys.stderr.write('to stderr\\n')
    if len(sys.argv) > 1 and sys.argv[1] == 'raise':
        raise ValueError('raised by the probe')
    if len(sys.argv) > 1 and sys.argv[1] == 'sleep':
        import time
        time.sleep(60)
    sys.exit(3)
''' % ROOT)


@pytest.fixture
def probe(tmp_path):
    path = tmp_path / 'probe.py'
    path.write_text(PROBE)
    return str(path)


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


def test_a_served_run_that_raises_or_hangs(probe):
    proc = run_tool([probe, 'raise'], check=False)
    assert proc.returncode == 1
    assert 'ValueError: raised by the probe' in proc.stderr
    with pytest.raises(subprocess.TimeoutExpired):
        run_tool([probe, 'sleep'], timeout=3)
    # the server goes on serving
    assert run_tool([probe, 'a'], check=False).returncode == 3
