"""A fork server for the tools the tests run (``conftest.run_tool``).

A tool started as ``python tools/x.py`` spends about 4 s of CPU importing
torch, mmengine, mmcv and mmdet before it does anything, and the suite
starts dozens. This server imports those third-party packages once per
pytest worker, then forks a child per tool run: the child takes the run's
argv, environment, working directory and output files, and runs the script
as ``__main__`` (``runpy``), as a fresh interpreter would. panet_mmdet is
not imported here, so each tool still imports and registers what it needs
itself.

What a child cannot show, ``run_tool`` runs in a fresh interpreter:
shell scripts, runs that change PYTHONPATH (e.g. a torch that must not be
imported) and calls that ask for ``fresh=True``.

Protocol (JSON lines on the server's stdin / stdout): a request
``{argv, env, cwd, out, err}``; the replies ``{pid}`` when the child starts
and ``{status}`` (as ``Popen.returncode``) when it ends. The server runs one
child at a time and exits at the end of its stdin.
"""
import json
import os
import sys

# Imported once here, then shared by every child (copy-on-write). Only
# third-party packages: nothing that starts a thread.
PRELOAD = ('numpy', 'cv2', 'torch', 'torchvision', 'mmengine',
           'mmengine.runner', 'mmcv', 'mmcv.ops', 'mmdet', 'mmdet.models',
           'mmdet.datasets', 'mmdet.evaluation', 'mmdet.apis',
           'pycocotools.coco', 'matplotlib.pyplot')


def _status(wait_status: int) -> int:
    """``Popen.returncode``: the exit code, or -N for signal N."""
    if os.WIFSIGNALED(wait_status):
        return -os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def _exit_code(e: SystemExit) -> int:
    """The exit code ``sys.exit(x)`` gives a fresh interpreter."""
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    sys.stderr.write(f'{e.code}\n')
    return 1


def _child(req) -> None:
    """In the forked child: become the tool run; never returns."""
    import runpy
    import threading
    import traceback
    code = 1
    try:
        os.chdir(req['cwd'])
        os.environ.clear()
        os.environ.update(req['env'])
        for fd, path, mode in ((0, os.devnull, os.O_RDONLY),
                               (1, req['out'], os.O_WRONLY | os.O_CREAT),
                               (2, req['err'], os.O_WRONLY | os.O_CREAT)):
            new = os.open(path, mode, 0o644)
            os.dup2(new, fd)
            os.close(new)
        script = req['argv'][0]
        sys.argv = list(req['argv'])
        # sys.path as `python script` builds it: the script's folder, then
        # PYTHONPATH, then the rest
        extra = [
            p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p
        ]
        rest = [p for p in sys.path[1:] if p not in extra]
        sys.path[:] = [os.path.dirname(os.path.abspath(script))] + extra + rest
        threads = os.environ.get('OMP_NUM_THREADS')
        if threads:
            import torch
            torch.set_num_threads(int(threads))
        runpy.run_path(script, run_name='__main__')
        code = 0
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:
        traceback.print_exc()
        code = 1
    # what an interpreter does at its end: wait for non-daemon threads, run
    # the atexit functions, flush
    try:
        threading._shutdown()
        import atexit
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(code)


def serve() -> None:
    import importlib
    import threading

    # the replies get their own descriptor; fd 1 (print, anything a module
    # writes) goes to stderr, so nothing else reaches the reply pipe
    reply = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    for name in PRELOAD:
        importlib.import_module(name)
    if threading.active_count() != 1:
        raise RuntimeError('tool_server: a preloaded module started a thread; '
                           'forking would be unsafe')
    for line in sys.stdin:
        req = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            reply.close()
            _child(req)
        reply.write(json.dumps({'pid': pid}) + '\n')
        _, status = os.waitpid(pid, 0)
        reply.write(json.dumps({'status': _status(status)}) + '\n')


if __name__ == '__main__':
    serve()
