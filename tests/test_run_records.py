"""What tools/analysis/ reads results with: tools/analysis/run_records.py
(the work-dir readers compare_results.py and ablation_table.py share) and
class_confusion.py's matching of ground truth to detections."""
import json
import math
import os
import os.path as osp
import sys

import pytest

from conftest import ROOT, run_tool

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))  # the tools' helpers
from run_records import load_test_metrics  # noqa: E402
from run_records import mean_std, train_seconds_per_iter  # noqa: E402


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
    with pytest.raises(
            FileNotFoundError, match='test_metrics.json.*--save-metrics'):
        load_test_metrics(str(tmp_path))
    (tmp_path / 'test_metrics.json').write_text('{"coco/segm_mAP": 0.5}')
    assert load_test_metrics(str(tmp_path)) == {'coco/segm_mAP': 0.5}


def test_compare_results_prints_means_and_the_difference(tmp_path):
    for name, segm in (('a', (0.30, 0.34)), ('b', (0.20, 0.22))):
        for seed, v in enumerate(segm):
            work = str(tmp_path / f'{name}_seed{seed}')
            _launch(
                work, '20260101_000000',
                [dict(iter=40, loss=1.0, time=0.5 if name == 'a' else 0.25)])
            with open(osp.join(work, 'test_metrics.json'), 'w') as f:
                json.dump({'coco/segm_mAP': v, 'coco/bbox_mAP': v - 0.1}, f)
    out = run_tool(['tools/analysis/compare_results.py'] +
                   sorted(str(p) for p in tmp_path.iterdir())).stdout
    assert 'a: 2, b: 2' in out
    assert '0.320+-0.028' in out  # segm AP of a: mean +- sample std
    assert ('a - b: segm AP +0.110, bbox AP +0.110, time per iteration x2.00'
            in out)


def test_class_confusion_matches_the_best_scoring_overlap():
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
    import torch
    from class_confusion import match_objects
    gt = torch.tensor([[0., 0., 10., 10.], [20., 20., 40., 40.],
                       [60., 60., 70., 70.]])
    gt_labels = torch.tensor([0, 1, 2])
    det = torch.tensor([
        [0., 0., 10., 10.],  # object 0, right class, lower score
        [1., 0., 10., 10.],  # object 0, wrong class, higher score: counts
        [20., 20., 40., 40.],  # object 1, right class
        [20., 20., 26., 26.],  # object 1 at IoU 0.09: ignored
        [60., 60., 64., 64.],  # object 2 only at IoU 0.16: not found
    ])
    scores = torch.tensor([0.4, 0.5, 0.3, 0.9, 0.8])
    labels = torch.tensor([0, 2, 1, 0, 2])
    found, confusion, ious = match_objects(
        gt, gt_labels, det, scores, labels, num_classes=3)
    assert found == 2
    expected = torch.zeros(3, 3, dtype=torch.long)
    expected[0, 2] = 1
    expected[1, 1] = 1
    assert torch.equal(confusion, expected)
    assert ious == pytest.approx([0.9, 1.0])
    # no detections or no objects: nothing found, nothing counted
    assert match_objects(gt, gt_labels, det[:0], scores[:0], labels[:0],
                         3)[0] == 0
    assert match_objects(gt[:0], gt_labels[:0], det, scores, labels, 3)[0] == 0
