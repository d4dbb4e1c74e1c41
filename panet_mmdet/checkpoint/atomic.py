"""One atomic file write for the whole package.

Every file of the package that a crash must not leave half-written
(checkpoints, best ones included, a repaired ``last_checkpoint``, converted
weights) goes through
:func:`write_atomically`: the content is written to a hidden temporary file
in the destination's folder, flushed and fsynced, renamed over the
destination (atomic on POSIX) and the folder is fsynced. At any moment the
destination holds its previous content or the new one, never a part.
"""
import os
import os.path as osp
import tempfile
from typing import IO, Callable, Union

TMP_SUFFIX = '.tmp'


def fsync_dir(folder: str) -> None:
    """Make a rename inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
        path: str, content: Union[str, bytes, Callable[[IO[bytes]],
                                                       None]]) -> None:
    """Write ``content`` to ``path`` atomically.

    Args:
        path: the destination; its folder is created if needed.
        content: text, bytes, or a function that writes into the binary
            file object it is given (``lambda f: torch.save(obj, f)``).
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix='.' + osp.basename(path) + '.', suffix=TMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            if isinstance(content, str):
                f.write(content.encode())
            elif isinstance(content, bytes):
                f.write(content)
            else:
                content(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(folder)
