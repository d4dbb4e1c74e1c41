"""The tests read mmdet's metafiles once per process, not at every config.

For each ``mmdet::NAME`` a config names (its bases, ``default_runtime``,
the datasets), mmengine's ``Config.fromfile`` looks NAME up in every
metafile of mmdet: about 100 YAML files parsed again each time
(``mmengine.config.utils._get_cfg_metainfo``, ~0.2 s on the 2-core
development machine), and a miss (every ``mmdet::_base_/...``) parses them
all before it falls back to the path. A PANet config names several: the 27
configs of the repository (every one under ``configs/`` but the bases, and
the tests' tiny one), each loaded with ``Config.fromfile`` in one process
on the 2-core development machine, took 13.1 s, 3.0 s with the files cached
and 1.8 s once the cache was warm (66 lookups).

:func:`install` wraps the loader that lookup uses (``utils.load``, the
only caller in ``mmengine.config.utils``) with a cache of the parsed
``.mim`` files of installed packages; mmengine's lookup itself is
unchanged. The files are those of the installed mmdet, which do not change
during a test session. ``conftest.py`` installs it in the test processes,
``tool_server.py`` in the served interpreter, warmed before the children
fork from it; fresh interpreters read the files as users' tools do.
"""
import os.path as osp

_CACHE = {}


def install() -> None:
    """Cache the metafiles' contents in this process (idempotent)."""
    from mmengine.config import utils
    if getattr(utils.load, 'metafile_cache', False):
        return
    original = utils.load

    def load(file, *args, **kwargs):
        if (args or kwargs or not isinstance(file, str)
                or f'{osp.sep}.mim{osp.sep}' not in file):
            return original(file, *args, **kwargs)
        if file not in _CACHE:
            _CACHE[file] = original(file)
        return _CACHE[file]

    load.metafile_cache = True
    load.original = original
    utils.load = load


def warm(package: str = 'mmdet') -> None:
    """Parse ``package``'s metafiles now (a name no metafile has)."""
    from mmengine.config.utils import _get_cfg_metainfo
    from mmengine.utils import get_installed_path
    try:
        _get_cfg_metainfo(get_installed_path(package), '<none>')
    except ValueError:
        pass
