import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TESTS = osp.join(ROOT, 'tests')

# OpenMP threads that wait sleep instead of spinning, in this process and the
# tools the tests start (libgomp reads this when torch loads it, so before
# any test module imports torch). Two workers share the cores; a 2-thread
# process that spins while the other worker runs burns the CPU the other
# needs: two `tools/benchmark.py ablation-costs` side by side with 2 threads
# each took 41.7 s with the default policy and 21.0 s with PASSIVE on a
# 2-core machine. Results are the same (the thread count is unchanged).
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
TINY_CONFIG = osp.join(ROOT, 'tests', 'configs',
                       'mask-rcnn_r18_fpn-gn_tiny.py')

# Files whose tests share a Slurm partition: one xdist worker runs them all
# (a job from another worker would make the partition look busy).
SERIAL_GROUPS = {
    'test_cluster.py': 'slurm',
    'test_clean_exit.py': 'slurm',
    'test_fault_tolerance.py': 'slurm'
}

# The groups that take longest, longest first (seconds of one worker in
# `make test PYTEST_ARGS=--durations=0` on a 2-core machine; an estimate:
# only the order matters). xdist hands the groups out in the order of the
# collection, one at a time to whichever worker has run out of work, so
# these start first and the many short files fill the workers up at the
# end. A group not named here keeps its place after them.
LONGEST_FIRST = ('slurm', 'test_run_ablation.py', 'test_crash_safety.py',
                 'test_deployment.py', 'test_official_parity.py',
                 'test_scripts.py', 'test_deployment_official.py',
                 'test_configs.py')


def pytest_configure(config):
    config.addinivalue_line(
        'markers',
        'slow: runs a training job in a subprocess (tens of seconds)')
    config.addinivalue_line(
        'markers', 'slurm: needs a Slurm partition that answers '
        '(tools/dev/local_slurm.sh up); skips otherwise')
    config.addinivalue_line(
        'markers', 'gpu: needs a usable CUDA GPU, skips otherwise '
        '(tools/dev/gpu_check.py runs them: pytest -m gpu)')
    # keep the order set below (xdist would sort the groups by their
    # number of tests)
    config.option.loadscopereorder = False
    # mmdet's metafiles parsed once, not at every config load
    # (tests/metafile_cache.py)
    import metafile_cache
    metafile_cache.install()


def _group(nodeid: str) -> str:
    name = osp.basename(nodeid.split('::', 1)[0])
    return SERIAL_GROUPS.get(name, name)


@pytest.hookimpl(optionalhook=True)  # without pytest-xdist: unused
def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs two pytest-xdist workers with ``--dist
    loadfile``: a test file goes to one worker as a whole, so its module
    fixtures (trained models, exported graphs) are built once; the files of
    a SERIAL_GROUPS group go together."""
    if getattr(config.option, 'dist', None) != 'loadfile':
        return None
    from xdist.scheduler import LoadFileScheduling

    class GroupedFileScheduling(LoadFileScheduling):

        def _split_scope(self, nodeid):
            return _group(nodeid)

    return GroupedFileScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """The longest groups first (LONGEST_FIRST), each group's files
    together, in their own order; ``gpu`` tests skip without CUDA."""
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_group(item.nodeid), len(rank)))
    if not _cuda_here():
        skip = pytest.mark.skip(reason='needs a usable CUDA GPU')
        for item in items:
            if 'gpu' in item.keywords:
                item.add_marker(skip)


def _cuda_here() -> bool:
    import torch
    return torch.cuda.is_available()


def pytest_sessionstart(session):
    """The tools and training runs the tests start, and the models the
    library loads here with ``device=None``, use the CPU, also on a GPU
    machine: their expectations (bit-identical resumes, gloo process groups
    of two ranks, tolerances) are the CPU's; the ``gpu`` tests check CUDA
    in this process, naming their device. CUDA here is initialised first (the
    driver reads CUDA_VISIBLE_DEVICES once), then the GPUs are hidden from
    child processes. ``PANET_TEST_GPU_VISIBLE`` keeps what was visible."""
    if getattr(session.config.option, 'dist', 'no') != 'no':
        return  # an xdist controller: its workers do this for themselves
    if _cuda_here() and 'PANET_TEST_GPU_VISIBLE' not in os.environ:
        import torch
        torch.cuda.init()
        os.environ['PANET_TEST_GPU_VISIBLE'] = os.environ.get(
            'CUDA_VISIBLE_DEVICES', 'all')
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
        # and in this process the library's device=None means the CPU too
        # (the gpu tests name their device)
        import panet_mmdet.apis
        panet_mmdet.apis.default_device = lambda: 'cpu'


@pytest.fixture(autouse=True, scope='session')
def one_thread_per_worker():
    """One intra-op torch thread in the test processes: their tensors are
    small, and on a shared CPU two threads spin against the other processes
    (5x the CPU time for a config's loss and predict at a load of 3.5 on 2
    cores). Under pytest-xdist the tools the tests start get one thread
    too (OMP_NUM_THREADS, unless a test sets it): two workers fill the two
    cores."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    if os.environ.get('PYTEST_XDIST_WORKER'):
        os.environ.setdefault('OMP_NUM_THREADS', '1')
    yield
    torch.set_num_threads(threads)


# What setup.py's build reads. The wheel is built from a clean copy of these,
# so that the checkout's build/ (stale modules), *.egg-info and the editable
# install's panet_mmdet/.mim symlinks play no part.
WHEEL_SOURCES = ('setup.py', 'MANIFEST.in', 'LICENSE', 'README.md',
                 'CHANGELOG.md', 'model-index.yml', 'panet_mmdet', 'configs',
                 'tools', 'requirements')


def shared_once(tmp_path_factory, name: str, build) -> str:
    """A folder that ``build(folder)`` fills once per test session, shared
    by pytest-xdist's workers (``make test`` runs two): the first worker to
    ask builds it under a file lock, the others wait for it and reuse it."""
    from filelock import FileLock
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent  # the workers' common base
    folder = root / name
    with FileLock(str(folder) + '.lock'):
        if not (folder / '.done').exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            build(folder)
            (folder / '.done').touch()
    return str(folder)


def _build_wheel(tmp):
    src = tmp / 'src'
    src.mkdir()
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '*.egg-info',
                                    '.mim')
    for name in WHEEL_SOURCES:
        path = osp.join(ROOT, name)
        if osp.isdir(path):
            shutil.copytree(path, src / name, ignore=ignore)
        elif osp.isfile(path):
            shutil.copy(path, src / name)
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)
    proc = subprocess.run([
        sys.executable, '-m', 'pip', '--disable-pip-version-check', 'wheel',
        '-q', '--no-deps', '--no-build-isolation',
        str(src), '-w',
        str(tmp / 'dist')
    ],
                          cwd=str(tmp),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, (
        f'pip wheel failed ({proc.returncode}):\n{proc.stdout}\n'
        f'{proc.stderr}')


@pytest.fixture(scope='session')
def panet_wheel(tmp_path_factory):
    """Path of a panet_mmdet wheel built from the checkout's sources
    (``pip wheel --no-deps --no-build-isolation``), once per session."""
    from pathlib import Path
    dist = Path(shared_once(tmp_path_factory, 'wheel', _build_wheel)) / 'dist'
    wheels = list(dist.glob('panet_mmdet-*.whl'))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """8 train / 4 val images of 128 px, written by the demo generator."""
    from panet_mmdet.demo_data import generate_shapes_dataset
    return shared_once(
        tmp_path_factory, 'tiny_shapes', lambda out: generate_shapes_dataset(
            str(out),
            num_train=8,
            num_val=4,
            seed=3,
            img_size=(128, 128),
            objects_per_image=(2, 4)))


def data_options(data_root: str):
    """--cfg-options that point every dataloader and evaluator at data_root."""
    root = data_root.rstrip('/') + '/'
    ann = root + 'annotations/instances_val.json'
    return [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}'
    ]


class _ToolServer:
    """This worker's served interpreter (tests/tool_server.py), started at
    the first call of ``served_python()``."""

    def __init__(self):
        self.proc = None
        self.python = None
        self.lock = threading.Lock()

    def start(self) -> str:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            return self.python

    def _start(self):
        folder = tempfile.mkdtemp(prefix='served_python_')
        sock = osp.join(folder, 'server.sock')
        env = dict(os.environ)
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        self.proc = subprocess.Popen(
            [sys.executable,
             osp.join(TESTS, 'tool_server.py'), sock],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True)
        if self.proc.stdout.readline() != 'ready\n':
            raise RuntimeError('tests/tool_server.py did not start; its '
                               "stderr is in the test worker's output")
        # an interpreter that runs its command line in the server
        self.python = osp.join(folder, 'python')
        with open(self.python, 'w') as f:
            f.write(f'#!{sys.executable} -IS\n'
                    f'import sys\nsys.path.insert(0, {TESTS!r})\n'
                    'import served_python\n'
                    f'served_python.main({sock!r})\n')
        os.chmod(self.python, 0o755)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.python:
            shutil.rmtree(osp.dirname(self.python), ignore_errors=True)


_TOOL_SERVER = _ToolServer()


def served_python() -> str:
    """The path of an interpreter for ``python SCRIPT ARGS`` (also ``-m``,
    ``-c``) whose runs fork from this worker's server, with torch, mmengine
    and mmdet already imported (tests/tool_server.py says what it can and
    cannot stand in for). Its runs' ``sys.executable`` is this path, so the
    Python processes they start are served too."""
    return _TOOL_SERVER.start()


@pytest.fixture(autouse=True, scope='session')
def _tool_server_closes():
    yield
    _TOOL_SERVER.close()


def pid_alive(pid: int) -> bool:
    """True while process PID runs (or is stopped); False once it ended,
    zombies included."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except (FileNotFoundError, ProcessLookupError):
        return False


def launcher_env(**extra):
    """The environment of a launcher a test starts itself (dist_train.sh,
    Slurm scripts, torchrun): this interpreter, one thread per process,
    the checkout importable; EXTRA on top."""
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        OMP_NUM_THREADS='1',
        PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env.update(extra)
    return env


def run_tool(args, timeout=900, env=None, check=True, fresh=False):
    """Run a repo script with this interpreter; return the completed
    process. A Python tool runs on ``served_python()`` (torch, mmengine and
    mmdet already imported), unless ``fresh`` or ``env`` sets PYTHONPATH
    (a fresh interpreter then); shell scripts run in bash, with the same
    interpreter as their PY and PYTHON unless ``env`` names others."""
    served = not fresh and 'PYTHONPATH' not in (env or {})
    python = served_python() if served else sys.executable
    full_env = dict(os.environ)
    full_env.setdefault('OMP_NUM_THREADS', '2')
    full_env['PYTHONPATH'] = ROOT + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env['PYTHON'] = full_env['PY'] = python
    if env:
        full_env.update(env)
    if args[0].endswith('.sh'):
        cmd = list(args)
    else:
        cmd = [python] + args
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(cmd)} exited {proc.returncode}\n--- stdout (tail)\n'
            f'{proc.stdout[-4000:]}\n--- stderr (tail)\n{proc.stderr[-6000:]}')
    return proc


def total_loss(losses):
    """Sum of every 'loss*' entry of an mmdet loss dict (tensors or lists)."""
    return sum(v.sum() if not isinstance(v, (list, tuple)) else sum(v)
               for k, v in losses.items() if 'loss' in k)
