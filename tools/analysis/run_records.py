"""Read what a finished training + test run left in its work dir, for the
result scripts in ``tools/analysis/`` (``compare_results.py``,
``ablation_table.py``).

A work dir written by ``tools/train.py`` + ``tools/test.py --save-metrics``
holds ``test_metrics.json`` (the COCO metrics, keys such as
``coco/segm_mAP``) and, per training launch, ``<timestamp>/vis_data/
scalars.json`` (one JSON record per logged iteration).
"""
import glob
import json
import math
import os.path as osp
import statistics
from typing import Dict, Iterable, Optional, Tuple

# logged iterations up to this one are warm-up (allocator, caches) and are
# left out of the time per iteration
WARMUP_ITERS = 20


def load_test_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics dict ``tools/test.py --save-metrics`` wrote."""
    path = osp.join(work_dir, 'test_metrics.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: run tools/test.py with '
                                '--save-metrics first (tools/run_demo.sh and '
                                'tools/run_ablation.sh do)')
    with open(path) as f:
        return json.load(f)


def train_seconds_per_iter(work_dir: str) -> float:
    """Median logged ``time`` of the training iterations after the first
    ``WARMUP_ITERS``, over every launch in ``work_dir`` (a resumed run has
    several); NaN when nothing was logged."""
    times = []
    for log in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(log) as f:
            for line in f:
                rec = json.loads(line)
                if ('loss' in rec and 'time' in rec
                        and rec.get('iter', 0) > WARMUP_ITERS):
                    times.append(rec['time'])
    return statistics.median(times) if times else float('nan')


def mean_std(
    values: Iterable[Optional[float]]
) -> Tuple[Optional[float], Optional[float]]:
    """Mean and sample standard deviation of the values that are numbers
    (None and NaN, i.e. missing metrics, are dropped). The std is None for a
    single value and both are None for none."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    if not kept:
        return None, None
    std = statistics.stdev(kept) if len(kept) > 1 else None
    return statistics.fmean(kept), std
