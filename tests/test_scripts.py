"""The benchmark and analysis scripts run (tiny sizes) and print ratios."""
import os.path as osp
import re

import pytest

from conftest import run_tool

pytestmark = pytest.mark.slow

DEMO = 'configs/demo/panet_r18_bufpn-gn_demo.py'
STOCK = 'configs/demo/mask-rcnn_r18_fpn-gn_demo.py'


def test_benchmark_neck():
    out = run_tool(['tools/benchmarks/benchmark_neck.py', '--img-size', '64',
                    '64', '--channels', '16', '--in-channels', '8', '16',
                    '32', '64', '--repeats', '1', '--warmup', '0']).stdout
    # same parameters and FLOPs as PAFPN (the two differ in order only)
    assert re.search(r'BottomUpAugmentedFPN / PAFPN +x1\.00 +x1\.00 ', out), out
    assert 'BottomUpAugmentedFPN / FPN ' in out


def test_benchmark_roi_extractor():
    out = run_tool(['tools/benchmarks/benchmark_roi_extractor.py',
                    '--channels', '8', '--fc-dim', '16', '--rois', '16',
                    '--img-size', '64', '96', '--repeats', '1', '--warmup',
                    '0']).stdout
    conv, fc = out.split('[fc layer, 16 RoIs]')
    for name in ('AFP batched', 'AFP loop', 'Single+layer', 'Generic+layer',
                 'AFP batched / AFP loop', 'AFP loop / Single+layer'):
        assert name in conv
    assert 'AFP loop / Single+layer' in fc and 'batched' not in fc


def test_benchmark_mask_head():
    out = run_tool(['tools/benchmarks/benchmark_mask_head.py', '--rois', '4',
                    '--channels', '16', '--num-classes', '3', '--repeats', '1',
                    '--warmup', '0']).stdout
    assert 'FullyConnectedFusion / FCNMaskHead' in out


def test_model_benchmark_and_summary():
    out = run_tool(['tools/benchmark.py', DEMO, STOCK, '--img-size', '96', '128',
                    '--batch', '1', '--repeats', '1', '--warmup', '0']).stdout
    assert out.count('config / baseline') == 2 and 'GFLOPs' in out
    out = run_tool(['tools/analysis/model_summary.py', DEMO, '--baseline', STOCK,
                    '--shape', '96', '128']).stdout
    assert 'roi_head.mask_head' in out and 'total' in out


def test_benchmark_onnx(tmp_path):
    out = run_tool(['tools/benchmarks/benchmark_onnx.py', DEMO, '--shape',
                    '96', '128', '--score-thr', '0.0', '--repeats', '1',
                    '--warmup', '0', '--json', str(tmp_path / 'r.json')]).stdout
    for name in ('PyTorch (mmdet predict)', 'ONNX Runtime, RoiAlign op',
                 'ONNX Runtime, GridSample RoIAlign'):
        assert name in out
    assert 'disagree' not in out
    import json
    record = json.load(open(tmp_path / 'r.json'))
    # score_thr 0: the runtimes agree, max_per_img (50) detections each
    assert set(record['counts'].values()) == {50}


def test_infer_writes_images(tmp_path, tiny_data):
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.runner import save_checkpoint
    register_all_modules()
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', DEMO))
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'model.pth')
    save_checkpoint({'state_dict': model.state_dict(),
                     'meta': {'dataset_meta': dict(classes=('circle',
                                                            'rectangle',
                                                            'triangle'))}},
                    ckpt)
    img = osp.join(tiny_data, 'val', 'val_00001.png')
    out = tmp_path / 'out'
    run_tool(['tools/infer.py', img, DEMO, ckpt, '--out-dir', str(out),
              '--score-thr', '0.0'])
    assert (out / 'vis' / 'val_00001.png').is_file()


def test_run_demo_main_job(tmp_path):
    """`make demo`'s script end to end, two training iterations: data
    written, trained, COCO-evaluated, the comparison printed and the
    prediction picture (ground truth beside predictions) copied."""
    import json

    from PIL import Image
    data, work = str(tmp_path / 'data'), str(tmp_path / 'panet_demo')
    out = run_tool(['tools/run_demo.sh', DEMO],
                   env=dict(DATA_DIR=data, WORK_DIR=work,
                            DEMO_CFG_OPTIONS='train_cfg.max_iters=2 '
                            'default_hooks.logger.interval=1'),
                   timeout=900).stdout
    assert 'demo result (' + DEMO + ', seed 0)' in out, out
    # compare_results.py's table: one row per work dir, named after it
    assert re.search(r'^panet_demo +[0-9.]+ ', out, re.M), out
    metrics = json.load(open(osp.join(work, 'test_metrics.json')))
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0
    with open(osp.join(data, 'annotations', 'instances_val.json')) as f:
        val = json.load(f)
    side = val['images'][0]['width']
    picture = Image.open(osp.join(work, 'demo_prediction.png'))
    assert picture.size[0] == 2 * side  # ground truth | predictions
