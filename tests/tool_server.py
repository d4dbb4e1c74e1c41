"""A served Python interpreter for the processes the tests start.

A tool started as ``python tools/x.py`` spends about 4 s of CPU importing
torch, mmengine, mmcv and mmdet before it does anything, and the suite
starts dozens. This server imports those third-party packages once per
pytest worker and listens on a Unix socket. ``conftest.served_python()``
is an executable that takes a Python command line (``SCRIPT ARGS``, ``-m
MODULE ARGS``, ``-c CODE ARGS``, ``- ARGS`` with the script on stdin; with
``-u``, ``-B``, ``-W ARG``) and runs it in a child forked from this
server: the child takes the caller's stdin,
stdout and stderr (passed over the socket), argv, environment and working
directory, runs the script as ``__main__`` (``runpy``) as a fresh interpreter
would, and the caller exits with the child's status (``-N`` for signal N).
Its ``sys.executable`` is the served interpreter, so the Python processes a
served tool starts are served too (the ablation runner's trainings). A
``sitecustomize.py`` on the caller's PYTHONPATH (tests/fault_injection/) is
imported as Python's start-up would. panet_mmdet is not preloaded, so each
tool still imports and registers what it needs itself. mmdet's metafiles,
which mmengine parses again for every ``mmdet::`` name a config names, are
parsed once here (tests/metafile_cache.py).

Where the child cannot be the process it replaces, it says so or the tests
run a fresh interpreter:

* a PYTHONPATH folder that shadows a preloaded package (a torch that must
  not be imported) stops the run with exit code 2;
* options other than the above stop it with exit code 2;
* signals the caller gets (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
  SIGUSR2: tests/served_python.py) are passed on to the child; a caller
  that dies (SIGKILL, a timeout) takes the child with it: the child is
  killed when the socket closes, and it joins the caller's process group
  where it can (same session), so ``killpg`` on the caller's group reaches
  both at once;
* SIGSTOP cannot be passed on: tests that stop a process signal the
  child's own pid (the fault-tolerance tests read it from the ranks'
  heartbeats);
* the child's command line in ``ps`` is the server's: tests that find
  processes by their command line start a fresh interpreter.

Protocol: the caller connects and sends its three descriptors with a
4-byte length, then that many bytes of JSON ``{argv, env, cwd,
executable, pgid}``; the server answers with JSON lines ``{pid}`` when the
child starts and ``{status}`` when it ends. The server exits at the end of
its stdin (the pytest worker's pipe).
"""
import json
import os
import select
import signal
import socket
import struct
import sys

# Imported once here, then shared by every child (copy-on-write). Only
# third-party packages: nothing that starts a thread.
PRELOAD = ('numpy', 'cv2', 'torch', 'torchvision', 'mmengine',
           'mmengine.runner', 'mmcv', 'mmcv.ops', 'mmdet', 'mmdet.models',
           'mmdet.datasets', 'mmdet.evaluation', 'mmdet.apis',
           'pycocotools.coco', 'matplotlib.pyplot')


class Refused(Exception):
    """A command line the served interpreter cannot run as Python would."""


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


def parse_command(argv):
    """``python [-u] [-B] [-W ARG] (SCRIPT | - | -m MODULE | -c CODE) ARGS``
    -> (kind, target, args, options); ``-`` reads the script from stdin.
    Raises Refused for anything else."""
    options = {'unbuffered': False, 'warnings': []}
    k = 0
    while k < len(argv):
        arg = argv[k]
        if arg == '-u':
            options['unbuffered'] = True
        elif arg == '-B':
            pass  # no .pyc written: nothing is compiled here anyway
        elif arg == '-W' and k + 1 < len(argv):
            options['warnings'].append(argv[k + 1])
            k += 1
        elif arg in ('-m', '-c') and k + 1 < len(argv):
            kind = 'module' if arg == '-m' else 'code'
            return kind, argv[k + 1], argv[k + 2:], options
        elif arg == '-':
            return 'stdin', sys.stdin.read(), argv[k + 1:], options
        elif arg.startswith('-'):
            raise Refused(f'option {arg!r} is not supported')
        else:
            return 'script', arg, argv[k + 1:], options
        k += 1
    raise Refused('no script, -m or -c given (an interactive interpreter '
                  'is not served)')


def _startup_path(req, kind, target):
    """sys.path as ``python`` builds it: the script's folder (the working
    directory for -m, '' for -c), then PYTHONPATH, then the rest; and the
    sitecustomize module a new PYTHONPATH folder (one not on the server's
    own sys.path) brings, if any."""
    extra = [
        p for p in req['env'].get('PYTHONPATH', '').split(os.pathsep) if p
    ]
    known = {os.path.realpath(p) for p in sys.path}
    new = [p for p in extra if os.path.realpath(p) not in known]
    for folder in new:
        for name in os.listdir(folder) if os.path.isdir(folder) else ():
            stem = name[:-3] if name.endswith('.py') else name
            if stem.split('.')[0] in sys.modules and stem != 'sitecustomize':
                raise Refused(
                    f'PYTHONPATH folder {folder} shadows the preloaded '
                    f'{stem!r}: run this command in a fresh interpreter')
    head = {
        'script': os.path.dirname(os.path.abspath(target)),
        'module': os.getcwd(),
        'code': '',
        'stdin': ''
    }[kind]
    rest = [p for p in sys.path[1:] if p not in extra]
    site = [
        os.path.join(p, 'sitecustomize.py') for p in new
        if os.path.isfile(os.path.join(p, 'sitecustomize.py'))
    ]
    return [head] + extra + rest, site[:1]


def _child(req) -> None:
    """In the forked child: become the caller's Python; never returns."""
    import io
    import runpy
    import threading
    import traceback
    import warnings
    code = 1
    try:
        try:
            os.setpgid(0, req['pgid'])  # the caller's group, where allowed
        except OSError:
            pass
        os.chdir(req['cwd'])
        os.environ.clear()
        os.environ.update(req['env'])
        kind, target, args, options = parse_command(req['argv'])
        sys.path[:], site = _startup_path(req, kind, target)
        sys.executable = req['executable']
        if options['unbuffered']:
            sys.stdout = io.TextIOWrapper(
                io.FileIO(1, 'w', closefd=False), write_through=True)
            sys.stderr = io.TextIOWrapper(
                io.FileIO(2, 'w', closefd=False),
                write_through=True,
                errors='backslashreplace')
        for spec in options['warnings']:
            warnings._setoption(spec)
        threads = os.environ.get('OMP_NUM_THREADS')
        if threads:
            import torch
            torch.set_num_threads(int(threads))
        if site:  # imported as Python's start-up imports it
            import importlib.util
            spec = importlib.util.spec_from_file_location(
                'sitecustomize', site[0])
            sys.modules['sitecustomize'] = importlib.util.module_from_spec(
                spec)
            spec.loader.exec_module(sys.modules['sitecustomize'])
        if kind == 'script':
            sys.argv = [target] + args
            runpy.run_path(target, run_name='__main__')
        elif kind == 'module':
            sys.argv = ['-m'] + args  # runpy puts the module's file first
            runpy.run_module(target, run_name='__main__', alter_sys=True)
        else:  # -c CODE, or - with the script on stdin
            sys.argv = ['-c' if kind == 'code' else '-'] + args
            exec(
                compile(target, '<string>' if kind == 'code' else '<stdin>',
                        'exec'), {'__name__': '__main__'})
        code = 0
    except Refused as e:
        sys.stderr.write(f'served python: {e}\n')
        code = 2
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


def _receive(conn):
    """The caller's request and its stdin, stdout and stderr."""
    head, fds, _, _ = socket.recv_fds(conn, 4, 3)
    while len(head) < 4:
        more = conn.recv(4 - len(head))
        if not more:
            raise EOFError('the caller left')
        head += more
    size, = struct.unpack('!I', head)
    body = b''
    while len(body) < size:
        more = conn.recv(size - len(body))
        if not more:
            raise EOFError('the caller left')
        body += more
    return json.loads(body), fds


def _recv_or_nothing(conn) -> bytes:
    try:
        return conn.recv(64)
    except OSError:  # reset by a caller that died
        return b''


def _handle(conn) -> None:
    """In a forked handler: run one request; never returns."""
    try:
        req, fds = _receive(conn)
    except (EOFError, OSError, ValueError):
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        _child(req)
    for fd in fds:
        os.close(fd)
    try:  # the caller's group, also from here (whichever runs first)
        os.setpgid(pid, req['pgid'])
    except OSError:
        pass
    # the child's end, or the caller's (then the child goes too: a caller
    # killed before it read the pid leaves a broken pipe here)
    try:
        conn.sendall(json.dumps({'pid': pid}).encode() + b'\n')
        caller_gone = False
    except OSError:
        caller_gone = True
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if not caller_gone:
        poller.register(conn, select.POLLIN | select.POLLHUP)
    while not caller_gone:
        ready = dict(poller.poll())
        if pidfd in ready:
            break
        if conn.fileno() in ready and not _recv_or_nothing(conn):
            caller_gone = True
    if caller_gone:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    if not caller_gone:
        try:
            conn.sendall(
                json.dumps({
                    'status': _status(status)
                }).encode() + b'\n')
        except OSError:
            pass
    os._exit(0)


def serve(path: str) -> None:
    import importlib
    import threading

    for name in PRELOAD:
        importlib.import_module(name)
    import metafile_cache  # mmdet's metafiles parsed here, once
    metafile_cache.install()
    metafile_cache.warm()
    if threading.active_count() != 1:
        raise RuntimeError('tool_server: a preloaded module started a thread; '
                           'forking would be unsafe')
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    # ready; from here fd 1 (print, anything a module writes) is stderr
    sys.stdout.write('ready\n')
    sys.stdout.flush()
    os.dup2(2, 1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers reap themselves
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            break  # the worker closed our stdin: its session ended
        if listener in ready:
            conn, _ = listener.accept()
            pid = os.fork()
            if pid == 0:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _handle(conn)
            conn.close()
    listener.close()
    os.unlink(path)


if __name__ == '__main__':
    serve(sys.argv[1])
