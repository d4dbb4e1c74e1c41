"""flake8 and isort --check-only with OpenMMLab's settings (setup.cfg) over
the paths tools/dev/lint.sh checks, so a plain `make test` catches lint
regressions. yapf (the slow one) is left to tools/dev/lint.sh, which
.ci/run also runs."""
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PATHS = ['panet_mmdet', 'tools', 'tests', 'configs', 'setup.py']
COMMANDS = {'flake8': PATHS, 'isort': ['--check-only'] + PATHS}


@pytest.mark.parametrize('linter', sorted(COMMANDS))
def test_lint(linter):
    pytest.importorskip(linter)
    cmd = [sys.executable, '-m', linter] + COMMANDS[linter]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f'{linter} found violations (fix them, e.g. with '
        f'`bash tools/dev/lint.sh --fix`):\n{proc.stdout}{proc.stderr}')
