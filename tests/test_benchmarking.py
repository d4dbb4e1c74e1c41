"""The shared benchmark helpers: table, ratios, model summary."""
import os.path as osp

import pytest

from panet_mmdet.utils.benchmarking import (format_table, load_config,
                                            model_summary)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(ROOT, 'configs/demo/panet_r18_fpn-gn_demo.py')
STOCK = osp.join(ROOT, 'configs/demo/mask-rcnn_r18_fpn_gn_demo.py')


def test_format_table_values_and_ratios():
    rows = {'ours': dict(ms=150.0, mem=3.0, note='GN'),
            'stock': dict(ms=100.0, mem=0.0)}
    lines = format_table(rows, dict(ms='ms', mem='MiB', note='note'),
                         ratios=[('ours', 'stock')], label='model').splitlines()
    assert lines[0].split() == ['model', 'ms', 'MiB', 'note']
    assert lines[1].split() == ['ours', '150.0', '3.00', 'GN']
    assert lines[2].split() == ['stock', '100.0', '0.00', '-']
    # x1.50 for time; no ratio over a zero or a text column
    assert lines[3].split() == ['ours', '/', 'stock', 'x1.50', '-', '-']
    md = format_table(rows, dict(ms='ms'), markdown=True).splitlines()
    assert md[:3] == ['|  | ms |', '|---|---:|', '| ours | 150.0 |']


def test_format_table_names_an_unknown_row():
    with pytest.raises(KeyError, match='nobody'):
        format_table({'ours': dict(ms=1.0)}, dict(ms='ms'),
                     ratios=[('ours', 'nobody')])


def test_model_summary_parts_add_up():
    ours, stock = model_summary(DEMO, (64, 64)), model_summary(STOCK, (64, 64))
    assert ours['backbone'] == stock['backbone']  # same ResNet-18
    # only PANet has parameters in its RoI extractors (the per-level layers)
    assert ours['roi_head.bbox_roi_extractor'][0] > 0
    assert stock['roi_head.bbox_roi_extractor'][0] == 0
    for summary in (ours, stock):
        params, flops = summary.pop('total')
        assert sum(p for p, _ in summary.values()) == params
        assert 0 < sum(f for _, f in summary.values()) <= flops


def test_load_config_reads_mmdet_configs():
    cfg = load_config('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
    assert cfg.model.type == 'MaskRCNN'
