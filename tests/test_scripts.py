"""The analysis and demo scripts run (tiny sizes); the benchmarks' are in
test_benchmarking.py."""
import glob
import os
import os.path as osp
import re

import pytest

from conftest import run_tool

pytestmark = pytest.mark.slow

DEMO = 'configs/demo/panet_r18_bufpn-gn_demo.py'
STOCK = 'configs/demo/mask-rcnn_r18_fpn-gn_demo.py'


def test_model_summary():
    out = run_tool([
        'tools/benchmark.py', 'summary', DEMO, '--baseline', STOCK, '--shape',
        '96', '128'
    ]).stdout
    assert 'roi_head.mask_head' in out and 'total' in out


def test_infer_writes_images(tmp_path, tiny_data):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint
    register_all_modules()
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', DEMO))
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'model.pth')
    save_checkpoint(
        {
            'state_dict': model.state_dict(),
            'meta': {
                'dataset_meta':
                dict(classes=('circle', 'rectangle', 'triangle'))
            }
        }, ckpt)
    # a glob, as users type it (quoted): the files it matches, no others
    pattern = osp.join(tiny_data, 'val', 'val_0000[12].png')
    out = tmp_path / 'out'
    run_tool([
        'tools/infer.py', pattern, DEMO, ckpt, '--out-dir',
        str(out), '--score-thr', '0.0'
    ])
    assert sorted(os.listdir(out /
                             'vis')) == ['val_00001.png', 'val_00002.png']
    missing = run_tool(
        ['tools/infer.py',
         osp.join(tiny_data, 'val', '*.tif'), DEMO, ckpt],
        check=False)
    assert missing.returncode != 0 and 'no file matches' in missing.stderr


def test_class_confusion_runs(tmp_path, tiny_data):
    """class_confusion.py end to end on a random-weight model: every val
    object counted, the confusion matrix printed in the model's class
    order, under both NMS modes; a bad threshold is refused."""
    import json

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint
    register_all_modules()
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', DEMO))
    ckpt = str(tmp_path / 'model.pth')
    classes = ('circle', 'rectangle', 'triangle')
    save_checkpoint(
        {
            'state_dict': MODELS.build(cfg.model).state_dict(),
            'meta': {
                'dataset_meta': dict(classes=classes)
            }
        }, ckpt)
    ann = osp.join(tiny_data, 'annotations', 'instances_val.json')
    with open(ann) as f:
        n = len(json.load(f)['annotations'])
    args = [
        'tools/analysis/class_confusion.py', DEMO, ckpt, '--ann', ann,
        '--img-dir',
        osp.join(tiny_data, 'val'), '--score-thr', '0.0'
    ]
    for extra, mode in (([], 'per-class'), (['--class-agnostic-nms'],
                                            'class-agnostic')):
        out = run_tool(args + extra).stdout
        assert re.search(rf'^objects {n}, found at IoU >= 0.5: \d+', out,
                         re.M), out
        assert f'per object, {mode} NMS)' in out, out
        header = [ln for ln in out.splitlines() if 'detected' in ln][0]
        assert header.split()[-3:] == list(classes), header
    bad = run_tool(args[:-1] + ['1.5'], check=False)
    assert bad.returncode != 0
    assert '--score-thr must be in [0, 1], got 1.5' in bad.stderr


def test_run_demo_main_job(tmp_path):
    """`make demo`'s script end to end, two training iterations in two
    gloo processes of 2 images each (its default on a 2-core machine): data
    written (8 train, 4 val images), trained, COCO-evaluated, the
    comparison printed and the prediction picture (ground truth beside
    predictions) copied. Its Python processes (torchrun's agent and ranks
    included) use the served interpreter."""
    import json

    from PIL import Image
    data, work = str(tmp_path / 'data'), str(tmp_path / 'panet_demo')
    out = run_tool(['tools/run_demo.sh', DEMO],
                   env=dict(
                       DATA_DIR=data,
                       WORK_DIR=work,
                       DEMO_PROCS='2',
                       DEMO_DATA_ARGS='--num-train 8 --num-val 4',
                       OMP_NUM_THREADS='1',
                       DEMO_CFG_OPTIONS='train_cfg.max_iters=2 '
                       'default_hooks.logger.interval=1'),
                   timeout=900).stdout
    assert 'demo result (' + DEMO + ', seed 0)' in out, out
    # what it will do, first (the schedule read from the config + options)
    assert out.index('  2/3 train ' + DEMO + ' from scratch: 2 iterations '
                     'of 4 images') < out.index('== 1/3 demo data'), out
    assert '(2 processes (gloo) of 2 images and OMP_NUM_THREADS=1 each)' in out
    # both processes trained: the batch of 4 was shared out (the training
    # log is the first of the timestamped run folders, then tools/test.py's)
    log = open(sorted(glob.glob(osp.join(work, '*', '*.log')))[0]).read()
    assert 'Distributed training: True' in log, log[:3000]
    assert 'GPU number: 2' in log, log[:3000]  # mmengine's name: world size
    train_loader = log[log.index('train_dataloader = dict('):]
    assert re.match(
        r'train_dataloader = dict\(\s+batch_sampler=[^\n]+\s+'
        r'batch_size=2,', train_loader), train_loader[:300]
    # and at the end, the picture and the command that gives its numbers
    assert f'picture: {work}/demo_prediction.png' in out, out
    tail = out[out.index('its numbers'):]
    assert 'tools/analysis/class_confusion.py ' + DEMO in tail, tail
    assert f'--img-dir {data}/val' in tail, tail
    # compare_results.py's table: one row per work dir, named after it
    assert re.search(r'^panet_demo +[0-9.]+ ', out, re.M), out
    metrics = json.load(open(osp.join(work, 'test_metrics.json')))
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0
    with open(osp.join(data, 'annotations', 'instances_val.json')) as f:
        val = json.load(f)
    assert len(val['images']) == 4  # DEMO_DATA_ARGS reached the generator
    side = val['images'][0]['width']
    picture = Image.open(osp.join(work, 'demo_prediction.png'))
    # ground truth | predictions, each drawn at twice the image's size
    assert picture.size == (2 * 2 * side, 2 * val['images'][0]['height'])


@pytest.mark.parametrize('procs', ['3', '0', 'two'])
def test_run_demo_rejects_bad_process_count(tmp_path, procs):
    """DEMO_PROCS must divide the config's batch (4): a clear error before
    any data or training."""
    proc = run_tool(['tools/run_demo.sh', DEMO],
                    env=dict(
                        DATA_DIR=str(tmp_path / 'data'),
                        WORK_DIR=str(tmp_path / 'w'),
                        DEMO_PROCS=procs),
                    timeout=120,
                    check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ('DEMO_PROCS must be a positive number that divides the batch '
            f"(4), got '{procs}'") in proc.stderr
    assert not osp.exists(tmp_path / 'data')


def test_demo_scripts_keep_the_heap():
    """make demo and make ablation source tools/cpu_malloc_env.sh before
    training: glibc's heap settings, each unless already set."""
    import subprocess

    from conftest import ROOT
    for script in ('run_demo.sh', 'run_ablation.sh'):
        with open(osp.join(ROOT, 'tools', script)) as f:
            text = f.read()
        assert re.search(r'^source tools/cpu_malloc_env\.sh', text, re.M)
        start = ('bash tools/dist_train.sh'
                 if script == 'run_demo.sh' else 'exec ')
        assert text.index('source tools/cpu_malloc_env.sh') < text.index(start)
    show = ('source tools/cpu_malloc_env.sh; echo $MALLOC_MMAP_THRESHOLD_ '
            '$MALLOC_TRIM_THRESHOLD_ $MALLOC_TOP_PAD_')

    def sourced(**preset):
        env = dict(PATH='/usr/bin:/bin', **preset)
        return subprocess.run(['bash', '-c', show],
                              cwd=ROOT,
                              env=env,
                              capture_output=True,
                              text=True,
                              check=True).stdout.split()

    assert sourced() == ['33554432', '17179869184', '1073741824']
    assert sourced(MALLOC_TOP_PAD_='0') == ['33554432', '17179869184', '0']
