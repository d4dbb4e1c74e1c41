"""Fine-tuning starts from a converted authors' checkpoint: tools/train.py
with ``load_from`` trains the official model a few iterations on the demo
data (its 3 classes replace COCO's 80: the class layers start afresh, as
with any mmdet fine-tuning across datasets) and validates it."""
import glob
import json
import os.path as osp

import pytest
import torch

from panet_mmdet.checkpoint.official import convert_checkpoint
from conftest import ROOT, data_options, run_tool
from reference import authors_panet as A

pytestmark = pytest.mark.slow
CONFIG = osp.join(ROOT, 'tests', 'configs', 'panet-official_finetune_tiny.py')


def test_train_a_few_iterations_from_a_converted_checkpoint(
        tiny_data, tmp_path):
    authors = A.build_authors_model('mask_2x')
    A.randomize_(authors, 0)
    src, converted = tmp_path / 'authors.pth', tmp_path / 'converted.pth'
    torch.save(dict(step=0, model=authors.state_dict()), str(src))
    convert_checkpoint(str(src), str(converted), root=ROOT)
    del authors
    work = tmp_path / 'work'
    root = tiny_data.rstrip('/') + '/'
    options = data_options(tiny_data) + [
        f'load_from={converted}',
        # validated on one image (4 s each at the official test settings)
        'val_dataloader.dataset.indices=1',
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        f'test_evaluator.ann_file={root}annotations/instances_val.json'
    ]
    proc = run_tool([
        'tools/train.py', CONFIG, '--work-dir',
        str(work), '--cfg-options', *options
    ],
                    timeout=1200)
    out = proc.stdout + proc.stderr
    assert 'Load checkpoint from' in out and str(converted) in out
    # 80 COCO classes -> 3: only the class layers do not fit
    mismatched = {
        line.split()[3].rstrip(':')
        for line in out.splitlines() if line.startswith('size mismatch for ')
    }
    assert mismatched == {
        'roi_head.bbox_head.fc_cls.weight', 'roi_head.bbox_head.fc_cls.bias',
        'roi_head.bbox_head.fc_reg.weight', 'roi_head.bbox_head.fc_reg.bias',
        'roi_head.mask_head.conv_logits.weight',
        'roi_head.mask_head.conv_logits.bias'
    }, mismatched
    # ... and tools/train.py says so in one line
    assert 'not loaded from the checkpoint: roi_head.bbox_head.fc_cls.weight:'\
        ' shape (81, 1024) in the checkpoint, (4, 1024) in the model' in out
    logs = glob.glob(osp.join(str(work), '*', 'vis_data', 'scalars.json'))
    records = [json.loads(line) for line in open(logs[0])]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 2 and all(loss == loss and loss < 1e4
                                    for loss in losses)
    assert 'coco/segm_mAP' in out
    trained = torch.load(
        osp.join(str(work), 'iter_2.pth'),
        map_location='cpu',
        weights_only=False)['state_dict']
    start = torch.load(
        str(converted), map_location='cpu', weights_only=True)['state_dict']
    # the frozen stem kept the converted weights; trained layers moved
    torch.testing.assert_close(
        trained['backbone.conv1.weight'],
        start['backbone.conv1.weight'],
        rtol=0,
        atol=0)
    torch.testing.assert_close(trained['backbone.bn1.running_var'],
                               start['backbone.bn1.running_var'])
    assert not torch.equal(trained['neck.pa_convs.0.conv.weight'],
                           start['neck.pa_convs.0.conv.weight'])
