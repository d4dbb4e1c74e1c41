"""panet_mmdet.utils.run_records: the work-dir readers that
tools/analysis/compare_results.py and ablation_table.py share."""
import json
import math
import os
import os.path as osp

import pytest

from conftest import run_tool
from panet_mmdet.utils.run_records import (load_test_metrics, mean_std,
                                           train_seconds_per_iter)


def _launch(work, stamp, records):
    os.makedirs(osp.join(work, stamp, 'vis_data'))
    with open(osp.join(work, stamp, 'vis_data', 'scalars.json'), 'w') as f:
        for rec in records:
            f.write(json.dumps(rec) + '\n')


def test_mean_std_drops_missing_values():
    mean, std = mean_std([0.2, None, 0.4, float('nan'), 0.3])
    assert mean == pytest.approx(0.3) and std == pytest.approx(0.1)
    assert mean_std([0.25]) == (0.25, None)  # no spread from one value
    assert mean_std([None, float('nan')]) == (None, None)
    assert mean_std(iter([1.0, 3.0]))[0] == pytest.approx(2.0)


def test_train_seconds_per_iter_reads_every_launch_after_warmup(tmp_path):
    work = str(tmp_path / 'run')
    # first launch: a slow warm-up iteration, then 1.0 s; a validation record
    # (no loss) and the warm-up one must not count
    _launch(work, '20260101_000000', [
        dict(iter=20, loss=3.0, time=9.0),
        dict(iter=40, loss=2.0, time=1.0),
        dict(iter=40, time=5.0, **{'coco/segm_mAP': 0.1}),
    ])
    # resumed launch: two more iterations
    _launch(work, '20260101_010000', [
        dict(iter=60, loss=1.5, time=3.0),
        dict(iter=80, loss=1.4, time=2.0),
    ])
    assert train_seconds_per_iter(work) == pytest.approx(2.0)
    assert math.isnan(train_seconds_per_iter(str(tmp_path / 'empty')))


def test_load_test_metrics_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='test_metrics.json.*--save-metrics'):
        load_test_metrics(str(tmp_path))
    (tmp_path / 'test_metrics.json').write_text('{"coco/segm_mAP": 0.5}')
    assert load_test_metrics(str(tmp_path)) == {'coco/segm_mAP': 0.5}


def test_compare_results_prints_means_and_the_difference(tmp_path):
    for name, segm in (('a', (0.30, 0.34)), ('b', (0.20, 0.22))):
        for seed, v in enumerate(segm):
            work = str(tmp_path / f'{name}_seed{seed}')
            _launch(work, '20260101_000000',
                    [dict(iter=40, loss=1.0, time=0.5 if name == 'a' else 0.25)])
            with open(osp.join(work, 'test_metrics.json'), 'w') as f:
                json.dump({'coco/segm_mAP': v, 'coco/bbox_mAP': v - 0.1}, f)
    out = run_tool(['tools/analysis/compare_results.py'] +
                   sorted(str(p) for p in tmp_path.iterdir())).stdout
    assert 'a: 2, b: 2' in out
    assert '0.320+-0.028' in out  # segm AP of a: mean +- sample std
    assert 'a - b: segm AP +0.110, bbox AP +0.110, time per iteration x2.00' in out
