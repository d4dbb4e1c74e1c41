"""The caller's side of tests/tool_server.py: a Python command line run by
the server, as if this process ran it.

``conftest.served_python()`` writes an executable that starts this with
``python -I -S`` (standard library only, nothing from the environment) and
calls ``main(SOCKET)``. It sends this process's stdin, stdout, stderr,
argv, environment and working directory, passes on the signals it gets,
and ends as the child ended: the same exit code, or killed by the same
signal.
"""
import json
import os
import signal
import socket
import struct
import sys

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2)


def _std_fds():
    """fds 0-2, each opened on /dev/null if the caller closed it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    return [0, 1, 2]


def _lines(conn):
    buf = b''
    while True:
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            yield json.loads(line)
        more = conn.recv(4096)
        if not more:
            return
        buf += more


def main(path: str) -> None:
    body = json.dumps(
        dict(
            argv=sys.argv[1:],
            env=dict(os.environ),
            cwd=os.getcwd(),
            executable=os.path.abspath(sys.argv[0]),
            pgid=os.getpgid(0))).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    socket.send_fds(conn, [struct.pack('!I', len(body))], _std_fds())
    conn.sendall(body)
    replies = _lines(conn)
    pid = next(replies)['pid']

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    status = next(replies, {'status': 1})['status']
    if status >= 0:
        os._exit(status)
    if -status != signal.SIGKILL:
        signal.signal(-status, signal.SIG_DFL)
    os.kill(os.getpid(), -status)
    os._exit(128 - status)  # a signal whose default is not to end
