"""The benchmarks: the shared helpers (options, threads, timing loop, table,
model summary) and ``tools/benchmark.py``'s subcommands at tiny sizes."""
import argparse
import json
import os.path as osp
import re
import sys

import pytest
import torch

from panet_mmdet.utils.configs import load_config
from conftest import run_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = 'configs/demo/panet_r18_bufpn-gn_demo.py'
STOCK = 'configs/demo/mask-rcnn_r18_fpn-gn_demo.py'
sys.path.insert(0, osp.join(ROOT, 'tools'))  # the benchmarks package
import benchmarks  # noqa: E402
from benchmarks.common import add_timing_arguments  # noqa: E402
from benchmarks.common import set_threads  # noqa: E402
from benchmarks.common import format_table, measure_steps  # noqa: E402
from benchmarks.summary import model_summary  # noqa: E402

SUBCOMMANDS = ('model', 'summary', 'neck', 'roi-extractor', 'mask-head',
               'onnx', 'ablation-costs')


def bench(capsys, *argv):
    """Run ``tools/benchmark.py argv`` in this process; (result, stdout)."""
    capsys.readouterr()
    result = benchmarks.main(list(argv))
    return result, capsys.readouterr().out


# ------------------------------------------------------------- helpers
def test_format_table_values_and_ratios():
    rows = {
        'ours': dict(ms=150.0, mem=3.0, note='GN'),
        'stock': dict(ms=100.0, mem=0.0)
    }
    lines = format_table(
        rows,
        dict(ms='ms', mem='MiB', note='note'),
        ratios=[('ours', 'stock')],
        label='model').splitlines()
    assert lines[0].split() == ['model', 'ms', 'MiB', 'note']
    assert lines[1].split() == ['ours', '150.0', '3.00', 'GN']
    assert lines[2].split() == ['stock', '100.0', '0.00', '-']
    # x1.50 for time; no ratio over a zero or a text column
    assert lines[3].split() == ['ours', '/', 'stock', 'x1.50', '-', '-']
    md = format_table(rows, dict(ms='ms'), markdown=True).splitlines()
    assert md[:3] == ['|  | ms |', '|---|---:|', '| ours | 150.0 |']


def test_format_table_names_an_unknown_row():
    with pytest.raises(KeyError, match='nobody'):
        format_table({'ours': dict(ms=1.0)},
                     dict(ms='ms'),
                     ratios=[('ours', 'nobody')])


def test_measure_steps_times_each_column_then_memory():
    calls = []
    x = torch.ones(64, requires_grad=True)

    def step(name, column, fn=lambda: None):

        def run():
            calls.append((name, column))
            fn()

        return run

    rows = measure_steps(
        {
            'fwd': {
                'a': step('a', 'fwd'),
                'b': step('b', 'fwd')
            },
            'bwd': {
                'a': step('a', 'bwd', lambda: (x * x).sum().backward()),
                'b': step('b', 'bwd')
            }
        },
        'cpu',
        repeats=2,
        warmup=1,
        memory='bwd')
    assert set(rows) == {'a', 'b'}
    assert set(rows['a']) == {'fwd', 'bwd', 'mem'}
    assert all(v >= 0 for r in rows.values() for v in r.values())
    # x * x saves x for backward (256 bytes); 'b' saves nothing
    assert rows['a']['mem'] == 256 / 2**20 and rows['b']['mem'] == 0
    # each column interleaved (warm-up, then repeats), columns in order,
    # the memory column's step once more at the end
    assert calls == [('a', 'fwd'), ('b', 'fwd')] * 3 + \
        [('a', 'bwd'), ('b', 'bwd')] * 4


def test_timing_options_and_their_errors(capsys):
    p = argparse.ArgumentParser(prog='bench')
    add_timing_arguments(p, repeats=7, warmup=2)
    args = p.parse_args([])
    assert (args.device, args.repeats, args.warmup, args.threads) == \
        ('cpu', 7, 2, None)
    for argv, message in ((['--repeats', '0'], '--repeats: 0 is not >= 1'),
                          (['--warmup', '-1'], '--warmup: -1 is not >= 0'),
                          (['--device', 'gpu'], "--device: 'gpu' is not one "
                           "of 'cpu', 'cuda', 'cuda:N'")):
        with pytest.raises(SystemExit):
            p.parse_args(argv)
        assert message in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            p.parse_args(['--device', 'cuda:0'])
        assert 'sees no CUDA device' in capsys.readouterr().err
    cpu_only = argparse.ArgumentParser()
    add_timing_arguments(cpu_only, repeats=1, warmup=0, device=False)
    assert not hasattr(cpu_only.parse_args([]), 'device')


def test_cuda_timing_uses_the_named_gpu(monkeypatch):
    """On cuda:1 the events are recorded with cuda:1 current and cuda:1 is
    synchronised (not cuda:0's stream)."""
    from benchmarks import common
    calls = []

    class Event:

        def __init__(self, enable_timing):
            pass

        def record(self):
            calls.append(('record', current[-1]))

        def elapsed_time(self, other):
            return 5.

    current = ['cuda:0']

    class Device:

        def __init__(self, device):
            self.device = device

        def __enter__(self):
            current.append(self.device)

        def __exit__(self, *exc):
            current.pop()

    monkeypatch.setattr(torch.cuda, 'Event', Event)
    monkeypatch.setattr(torch.cuda, 'device', Device)
    monkeypatch.setattr(
        torch.cuda,
        'synchronize',
        lambda device=None: calls.append(('sync', device)))
    assert common._time_once(lambda: None, 'cuda:1') == 0.005
    assert calls == [('record', 'cuda:1'), ('record', 'cuda:1'),
                     ('sync', 'cuda:1')]


def test_set_threads():
    before = torch.get_num_threads()
    try:
        assert set_threads(None) == before
        assert set_threads(1) == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_model_summary_parts_add_up():
    ours = model_summary(osp.join(ROOT, DEMO), (64, 64))
    stock = model_summary(osp.join(ROOT, STOCK), (64, 64))
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


# ---------------------------------------------------------- entry point
def test_help_lists_each_subcommand_on_one_line():
    out = run_tool(['tools/benchmark.py', '--help']).stdout
    listing = out[out.index('\nsubcommands:\n'):].splitlines()[2:]
    assert [line.split()[0] for line in listing] == list(SUBCOMMANDS), out
    for line in listing:
        assert re.match(r'  [a-z-]+ +\S', line) and len(line) <= 80, line


def test_unknown_subcommand_names_the_choices(capsys):
    with pytest.raises(SystemExit):
        benchmarks.main(['necks'])
    err = capsys.readouterr().err
    assert "invalid choice: 'necks'" in err
    assert all(f"'{name}'" in err for name in SUBCOMMANDS), err


def test_ablation_costs_takes_the_runners_arguments():
    """The ablation runner's command line (tools/run_ablation.sh)."""
    args = benchmarks.build_parser().parse_args([
        'ablation-costs', 'a.py', 'b.py', '--checkpoints', 'a.pth', 'b.pth',
        '--data-root', 'data/x', '--repeats', '3', '--out', 'costs.json',
        '--train-batches', '1', '--val-images', '2', '--warmup', '0',
        '--own-batches'
    ])
    assert args.configs == ['a.py', 'b.py']
    assert args.checkpoints == ['a.pth', 'b.pth']
    assert (args.data_root, args.repeats, args.out, args.train_batches,
            args.val_images, args.warmup, args.own_batches) == \
        ('data/x', 3, 'costs.json', 1, 2, 0, True)
    with pytest.raises(ValueError, match='one file per config: got 1 for 2'):
        benchmarks.main(
            ['ablation-costs', 'a.py', 'b.py', '--checkpoints', 'a.pth'])


def test_neck(capsys):
    _, out = bench(capsys, 'neck', '--img-size', '64', '64', '--channels',
                   '16', '--in-channels', '8', '16', '32', '64', '--repeats',
                   '1', '--warmup', '0')
    # same parameters and FLOPs as PAFPN (the two differ in order only)
    assert re.search(r'BottomUpAugmentedFPN / PAFPN +x1\.00 +x1\.00 ',
                     out), out
    assert 'BottomUpAugmentedFPN / FPN ' in out


def test_roi_extractor(capsys):
    _, out = bench(capsys, 'roi-extractor', '--channels', '8', '--fc-dim',
                   '16', '--rois', '16', '--img-size', '64', '96', '--repeats',
                   '1', '--warmup', '0')
    conv, fc = out.split('[fc layer, 16 RoIs]')
    for name in ('AFP batched', 'AFP loop', 'Single+layer', 'Generic+layer',
                 'AFP batched / AFP loop', 'AFP loop / Single+layer'):
        assert name in conv
    assert 'AFP loop / Single+layer' in fc and 'batched' not in fc


def test_mask_head(capsys):
    tables, out = bench(capsys, 'mask-head', '--rois', '4', '--channels', '16',
                        '--num-classes', '3', '--repeats', '1', '--warmup',
                        '0')
    assert 'FullyConnectedFusion / FCNMaskHead' in out
    rows = tables[4]
    assert rows['FullyConnectedFusion']['params'] > rows['FCNMaskHead'][
        'params']
    assert 'INFO' not in out  # init_weights' report stays quiet


@pytest.mark.slow
def test_model(capsys):
    _, out = bench(capsys, 'model', DEMO, STOCK, '--img-size', '96', '128',
                   '--batch', '1', '--repeats', '1', '--warmup', '0')
    assert out.count('config / baseline') == 2 and 'GFLOPs' in out
    with pytest.raises(ValueError, match='--amp needs --device cuda'):
        benchmarks.main(['model', DEMO, STOCK, '--amp'])


@pytest.mark.slow
def test_onnx(capsys, tmp_path):
    _, out = bench(capsys, 'onnx', DEMO, '--shape', '96', '128', '--score-thr',
                   '0.0', '--repeats', '1', '--warmup', '0', '--json',
                   str(tmp_path / 'r.json'))
    for name in ('PyTorch (mmdet predict)', 'ONNX Runtime, RoiAlign op',
                 'ONNX Runtime, GridSample RoIAlign'):
        assert name in out
    assert 'disagree' not in out
    record = json.load(open(tmp_path / 'r.json'))
    # score_thr 0: the runtimes agree, max_per_img (50) detections each
    assert set(record['counts'].values()) == {50}


@pytest.mark.slow
def test_ablation_costs_writes_costs_json(capsys, tiny_data, tmp_path):
    out_file = str(tmp_path / 'costs.json')
    _, out = bench(capsys, 'ablation-costs', STOCK, DEMO, '--data-root',
                   tiny_data, '--train-batches', '1', '--val-images', '1',
                   '--repeats', '1', '--warmup', '0', '--out', out_file)
    assert 'panet_r18_bufpn-gn_demo / mask-rcnn_r18_fpn-gn_demo' in out
    assert f'written: {out_file}' in out
    record = json.load(open(out_file))
    assert set(record) == {'device', 'repeats', 'val_images', 'configs'}
    assert list(record['configs']) == [STOCK, DEMO]
    for costs in record['configs'].values():
        assert set(costs) == {
            'params', 'gflops', 'train_batch_size', 'checkpoint',
            'train_saved_mib', 'train_step_s', 'infer_ms_per_img'
        }
        assert costs['checkpoint'] is None and costs['train_step_s'] > 0
