"""Early, named errors for wrong config values and missing data paths."""
import os.path as osp
from typing import Any, Iterator, Sequence, Tuple

from mmengine.config import Config, ConfigDict

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def check_choice(name: str,
                 value: Any,
                 choices: Sequence,
                 allowed: str = 'one of') -> None:
    """Raise ``ValueError`` naming the argument and what is allowed.

    >>> check_choice('fusion', 'mean', ('max', 'sum'))
    Traceback (most recent call last):
    ValueError: fusion must be one of ('max', 'sum'), got 'mean'
    """
    if value not in tuple(choices):
        raise ValueError(f'{name} must be {allowed} {tuple(choices)}, got '
                         f'{value!r}')


def check_positive_int(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming the argument unless it is an int > 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f'{name} must be a positive int, got {value!r}')


def _datasets(cfg: dict, where: str) -> Iterator[Tuple[str, dict]]:
    """Yield (config path, dataset cfg) through wrapper datasets."""
    if not isinstance(cfg, (dict, ConfigDict)):
        return
    if 'dataset' in cfg:
        yield from _datasets(cfg['dataset'], f'{where}.dataset')
    if 'datasets' in cfg:
        for i, sub in enumerate(cfg['datasets']):
            yield from _datasets(sub, f'{where}.datasets[{i}]')
    if 'ann_file' in cfg or 'data_prefix' in cfg:
        yield where, cfg


def _is_local(path: str) -> bool:
    return '://' not in path


def check_dataset_paths(cfg: Config, loaders=_LOADERS) -> None:
    """Raise ``FileNotFoundError`` naming the config key of a missing path.

    Checks ``data_root``, ``ann_file`` and every ``data_prefix`` entry of the
    datasets of the given dataloaders (local paths only; remote backends are
    left to the file client).
    """
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for where, ds in _datasets(loader_cfg, loader):
            root = ds.get('data_root', '') or ''
            if root and _is_local(root) and not osp.isdir(root):
                raise FileNotFoundError(
                    f'{where}.data_root does not exist: {root!r}. For the '
                    'demo data run `python tools/make_demo_data.py` (or '
                    '`make demo`).')
            paths = []
            if ds.get('ann_file'):
                paths.append(('ann_file', ds['ann_file']))
            for key, value in (ds.get('data_prefix') or {}).items():
                if isinstance(value, str) and value:
                    paths.append((f'data_prefix.{key}', value))
            for key, value in paths:
                full = value if osp.isabs(value) else osp.join(root, value)
                if _is_local(full) and not osp.exists(full):
                    raise FileNotFoundError(
                        f'{where}.{key} does not exist: {full!r}. For the '
                        'demo data run `python tools/make_demo_data.py` (or '
                        '`make demo`).')
