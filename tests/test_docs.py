"""The README and docs/ cannot drift from the code.

Every fenced shell block of README.md, docs/*.md and configs/*/README.md is
parsed: each repository path it names must exist, each `make` target must be
in the Makefile, and each flag (and subcommand) given to a Python tool must be
one the tool's ``--help`` lists, which runs every tool once. Python blocks:
``panet_mmdet::`` bases must be shipped configs and ``custom_imports``
modules must import. Local links (and their #anchors) must resolve. The
README stays a front page: about 200 lines, and no commit hashes or dated
measurements in README or docs.
"""
import glob
import importlib.util
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = sorted(['README.md'] + [
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'docs', '*.md')) +
    glob.glob(osp.join(ROOT, 'configs', '*', 'README.md'))
])
# top-level folders whose paths a command names as inputs (outputs such as
# work_dirs/, data/ or checkpoints/ are created by the commands themselves)
REPO_DIRS = ('configs/', 'tools/', 'panet_mmdet/', 'tests/', 'docs/',
             'results/', 'requirements/', '.ci/')
PYTHONS = ('python', 'python3', '.venv/bin/python', sys.executable)
FENCE = re.compile(r'^```([a-z]*)\n(.*?)^```', re.M | re.S)


def _read(doc):
    with open(osp.join(ROOT, doc), encoding='utf-8') as f:
        return f.read()


def _blocks(doc, langs):
    return [body for lang, body in FENCE.findall(_read(doc)) if lang in langs]


def _commands(body):
    """Shell commands of a block: continuation lines joined, comments cut,
    split at ``&&``/``;``/``|``, leading ``VAR=value`` and ``sudo`` dropped."""
    body = body.replace('\\\n', ' ')
    out = []
    for line in body.splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as e:  # an unbalanced quote is a docs bug too
            raise AssertionError(f'cannot parse {line!r}: {e}')
        cmd = []
        for tok in tokens + [';']:
            if tok in ('&&', ';', '|', '||'):
                while cmd and (re.match(r'^[A-Z_][A-Z0-9_]*=', cmd[0])
                               or cmd[0] == 'sudo'):
                    cmd.pop(0)
                if cmd:
                    out.append(cmd)
                cmd = []
            else:
                cmd.append(tok)
    return out


def _shell_cases():
    cases = []
    for doc in DOCS:
        for body in _blocks(doc, ('bash', 'sh', 'shell')):
            cases += [(doc, cmd) for cmd in _commands(body)]
    return cases


SHELL = _shell_cases()


def _python_tool(cmd):
    """(script, subcommand or None, flags) of `python tools/x.py ...`."""
    if cmd[0] not in PYTHONS or len(cmd) < 2 or not cmd[1].endswith('.py'):
        return None
    script, args = cmd[1], cmd[2:]
    sub = None
    positional = [a for a in args if not a.startswith('-')]
    if script == 'tools/benchmark.py' and positional:
        sub = positional[0]
    flags = sorted({a.split('=')[0] for a in args if a.startswith('--')})
    return script, sub, flags


# Runs each tool's --help in one interpreter (the imports of torch and mmdet
# once, not once per tool): {"script|sub": [exit code, output]} on stdout.
_HELP_DRIVER = r"""
import contextlib, io, json, os, runpy, sys
out = {}
for script, sub in json.loads(sys.argv[1]):
    argv, path = sys.argv, sys.path[:]
    sys.argv = [script] + ([sub] if sub else []) + ['--help']
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    buf, code = io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            runpy.run_path(script, run_name='__main__')
    except SystemExit as e:
        code = e.code or 0
    except Exception as e:  # reported, not raised
        code = repr(e)
    finally:
        sys.argv, sys.path[:] = argv, path
    out[script + '|' + (sub or '')] = [code, buf.getvalue()]
sys.stdout.write(json.dumps(out))
"""


def _helps(keys):
    """``{(script, sub): (exit code, --help output)}`` of tools."""
    keys = sorted(keys, key=str)
    proc = subprocess.run(
        [sys.executable, '-c', _HELP_DRIVER,
         json.dumps(keys)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    return {k: tuple(out[k[0] + '|' + (k[1] or '')]) for k in keys}


def test_docs_have_commands():
    assert len(SHELL) > 40, SHELL
    assert any(c[:2] == ['make', 'demo'] for _, c in SHELL)
    assert any(c[:2] == ['make', 'test'] for _, c in SHELL)


def test_every_path_a_command_names_exists():
    missing = []
    for doc, cmd in SHELL:
        for tok in cmd:
            for part in tok.split('='):
                if part.startswith(REPO_DIRS) and '$' not in part:
                    if not glob.glob(osp.join(ROOT, part)):
                        missing.append((doc, part))
    assert not missing, missing


def test_make_targets_exist():
    targets = set(re.findall(r'^([a-z][a-z-]*):', _read('Makefile'), re.M))
    used = {(doc, t)
            for doc, cmd in SHELL if cmd[0] == 'make' for t in cmd[1:]
            if '=' not in t}
    assert used and not {u for u in used if u[1] not in targets}, used


def test_shell_scripts_exist_and_are_executable():
    scripts = {c[0] for _, c in SHELL if c[0].endswith('.sh')}
    assert scripts
    for s in scripts:
        assert os.access(osp.join(ROOT, s), os.X_OK), s


@pytest.mark.slow
def test_every_tool_flag_is_in_the_tools_help():
    tools = {}
    for doc, cmd in SHELL:
        parsed = _python_tool(cmd)
        if parsed and parsed[0].startswith('tools/'):
            tools.setdefault(parsed[:2], set()).update(
                (doc, f) for f in parsed[2])
    assert len(tools) >= 8, sorted(tools)
    helps = _helps(tools)
    bad = []
    for (script, sub), flags in sorted(tools.items(), key=str):
        rc, text = helps[(script, sub)]
        if rc != 0:
            bad.append((script, sub, f'exit {rc}: {text[-300:]}'))
            continue
        known = set(re.findall(r'--[a-z0-9][a-z0-9-]*', text))
        bad += [(doc, script, sub, f) for doc, f in flags if f not in known]
    assert not bad, bad


def test_benchmark_script_exits_zero_after_a_run():
    # the docs' `tools/benchmark.py SUBCOMMAND` lines run in scripts and CI:
    # a finished run exits 0 and prints no result dict after its table (a
    # `sys.exit(main())` of the subcommand's measurements exited 1)
    from conftest import run_tool
    proc = run_tool([
        'tools/benchmark.py', 'neck', '--img-size', '64', '64', '--channels',
        '16', '--in-channels', '8', '16', '32', '64', '--repeats', '1',
        '--warmup', '0'
    ],
                    timeout=600,
                    check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert 'BottomUpAugmentedFPN / PAFPN' in proc.stdout
    assert not re.search(r'^[\[{]', proc.stdout + proc.stderr, re.M), \
        proc.stderr[-2000:]


def test_python_blocks_name_real_configs_and_modules():
    seen = 0
    for doc in DOCS:
        for body in _blocks(doc, ('python', )):
            for cfg in re.findall(r"'panet_mmdet::([^']+)'", body):
                assert osp.isfile(osp.join(ROOT, 'configs', cfg)), (doc, cfg)
                seen += 1
            for imports in re.findall(r'imports=\[([^\]]*)\]', body):
                for mod in re.findall(r"'([\w.]+)'", imports):
                    assert importlib.util.find_spec(mod), (doc, mod)
                    seen += 1
    for doc in ('README.md', 'docs/install.md'):
        for cfg in re.findall(r"'panet_mmdet::([^']+)'", _read(doc)):
            assert osp.isfile(osp.join(ROOT, 'configs', cfg)), (doc, cfg)
            seen += 1
    assert seen >= 3


def _anchors(doc):
    """GitHub's heading ids of a markdown file."""
    text = FENCE.sub('', _read(doc))
    out = set()
    for title in re.findall(r'^#+ (.+)$', text, re.M):
        slug = re.sub(r'[^\w\- ]', '', title.strip().lower()).replace(' ', '-')
        out.add(slug)
    return out


def test_local_links_resolve():
    bad = []
    for doc in DOCS:
        text = FENCE.sub('', _read(doc))
        for target in re.findall(r'\]\(([^)\s]+)\)', text):
            if re.match(r'[a-z]+://', target) or target.startswith('mailto:'):
                continue
            path, _, anchor = target.partition('#')
            full = osp.normpath(osp.join(osp.dirname(doc), path)) if path \
                else doc
            if not osp.exists(osp.join(ROOT, full)):
                bad.append((doc, target))
            elif anchor and full.endswith('.md') and \
                    anchor not in _anchors(full):
                bad.append((doc, target, 'no such heading'))
    assert not bad, bad


def test_readme_is_a_front_page():
    lines = _read('README.md').splitlines()
    assert len(lines) <= 210, len(lines)
    head = '\n'.join(lines[:60])
    for must in ('## Install', 'make demo', 'make test', 'pip install'):
        assert must in head, must


@pytest.mark.parametrize('doc',
                         [d for d in DOCS if not d.startswith('configs')])
def test_no_history_in_readme_or_docs(doc):
    text = _read(doc)
    dates = re.findall(r'\b20\d\d-\d\d-\d\d\b', text)
    hashes = re.findall(r'\bcommits? `?[0-9a-f]{7,40}\b', text)
    work_items = re.findall(r'\b(?:issue|work item) #?\d+', text, re.I)
    assert not (dates or hashes or work_items), (dates, hashes, work_items)
