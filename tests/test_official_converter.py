"""tools/model_converters/panet_official_to_mmdet.py: one command converts a
checkpoint in the authors' format; anything else stops with a message that
says what the file is, and nothing is written."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

# yapf: disable
from panet_mmdet.checkpoint.official import (DATASET_CLASSES, OFFICIAL_MODELS,
                                             convert_checkpoint,
                                             detect_official_model,
                                             load_authors_checkpoint,
                                             map_state_dict)
# yapf: enable
from conftest import ROOT, run_tool
from reference import authors_panet as A

TOOL = 'tools/model_converters/panet_official_to_mmdet.py'


def _authors_file(path, variant='mask_2x', seed=0, legacy=True, **extra):
    model = A.build_authors_model(variant)
    A.randomize_(model, seed)
    ckpt = dict(
        step=179999,
        train_size=117266,
        batch_size=16,
        model=model.state_dict(),
        optimizer=dict(
            state={},
            param_groups=[dict(lr=0.0002, momentum=0.9, params=[0, 1, 2])]),
        **extra)
    # the released files were written by torch 0.4: legacy, non-zip format
    torch.save(ckpt, str(path), _use_new_zipfile_serialization=not legacy)
    return model.state_dict()


@pytest.fixture(scope='module')
def mask_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('authors') / 'panet_mask_step179999.pth'
    state = _authors_file(path)
    return path, state


def test_cli_converts_and_the_result_loads_strictly(mask_file, tmp_path):
    src, state = mask_file
    dst = tmp_path / 'converted.pth'
    proc = run_tool([TOOL, str(src), str(dst)])
    assert 'mask-rcnn-2x' in proc.stdout and f'wrote {dst}' in proc.stdout
    ckpt = torch.load(str(dst), map_location='cpu', weights_only=True)
    meta = ckpt['meta']
    assert meta['official_model'] == 'mask-rcnn-2x'
    assert meta['config'] == \
        'configs/panet/official/panet-official_r50_bufpn-gn_2x_coco.py'
    assert meta['converted_from'] == 'panet_mask_step179999.pth'
    assert meta['source_counters'] == dict(
        step=179999, train_size=117266, batch_size=16)
    assert len(meta['source_sha256']) == 64
    assert meta['dataset_meta']['classes'][0] == 'person'
    sd = ckpt['state_dict']
    from mmengine.config import Config

    from panet_mmdet.apis import build_detector
    det = build_detector(Config.fromfile(osp.join(ROOT, meta['config'])))
    det.load_state_dict(sd, strict=True)
    # values: the renaming is the identity on tensors, but for class layers
    torch.testing.assert_close(sd['backbone.conv1.weight'],
                               state['Conv_Body.conv_body.res1.conv1.weight'])
    cls = state['Box_Outs.cls_score.weight']
    torch.testing.assert_close(sd['roi_head.bbox_head.fc_cls.weight'],
                               torch.cat([cls[1:], cls[:1]]))
    torch.testing.assert_close(sd['roi_head.bbox_head.fc_reg.bias'],
                               state['Box_Outs.bbox_pred.bias'][4:])
    torch.testing.assert_close(sd['roi_head.mask_head.conv_logits.weight'],
                               state['Mask_Outs.classify.weight'][1:])
    assert float(sd['backbone.bn1.running_var'][0]) == np.float32(1 - 1e-5)


@pytest.mark.parametrize('variant', ['det_1x', 'det_2fc_1x'])
def test_box_models_convert_with_their_config(variant, tmp_path):
    src, dst = tmp_path / 'src.pth', tmp_path / 'dst.pth'
    _authors_file(src, variant, legacy=False)
    meta = convert_checkpoint(str(src), str(dst), root=ROOT)
    expected = {'det_1x': 'faster-rcnn-1x', 'det_2fc_1x': 'faster-rcnn-2fc-1x'}
    assert meta['official_model'] == expected[variant]
    assert osp.isfile(dst)


def test_cityscapes_classes_follow_the_authors_mapping(mask_file, tmp_path):
    src, state = mask_file
    dst = tmp_path / 'cs.pth'
    run_tool([TOOL, str(src), str(dst), '--dataset', 'cityscapes'])
    ckpt = torch.load(str(dst), map_location='cpu', weights_only=True)
    sd, meta = ckpt['state_dict'], ckpt['meta']
    assert meta['dataset_meta']['classes'][:2] == ('person', 'rider')
    cls = state['Box_Outs.cls_score.weight']
    ours = sd['roi_head.bbox_head.fc_cls.weight']
    # person, rider (from person), car, truck, bus, train, motorcycle,
    # bicycle, then background (the authors' row 0)
    for i, coco in enumerate(DATASET_CLASSES['cityscapes'] + (0, )):
        torch.testing.assert_close(ours[i], cls[coco])
    reg = state['Box_Outs.bbox_pred.weight'].view(81, 4, -1)
    torch.testing.assert_close(sd['roi_head.bbox_head.fc_reg.weight'].view(
        8, 4, -1)[2], reg[3])  # car
    assert sd['roi_head.mask_head.conv_logits.weight'].shape[0] == 8


# ------------------------------------------------------- what is refused
def _refused(src, dst, match, **kwargs):
    with pytest.raises(ValueError, match=match):
        convert_checkpoint(str(src), str(dst), root=ROOT, **kwargs)
    assert not osp.exists(dst)
    assert not [
        p for p in osp.os.listdir(osp.dirname(dst))
        if p.startswith('.' + osp.basename(dst))
    ]


def test_refuses_a_missing_or_truncated_file(mask_file, tmp_path):
    dst = tmp_path / 'out.pth'
    _refused(tmp_path / 'nope.pth', dst, 'is not a file')
    src, _ = mask_file
    data = open(src, 'rb').read()
    for cut in (100, len(data) // 2, len(data) - 10):
        part = tmp_path / f'cut{cut}.pth'
        part.write_bytes(data[:cut])
        _refused(part, dst, 'truncated or corrupt')


def test_refuses_a_detectron_caffe2_pickle(tmp_path):
    src = tmp_path / 'model_final.pkl'
    with open(src, 'wb') as f:
        pickle.dump(
            {'blobs': {
                'conv1_w': np.zeros((64, 3, 7, 7), np.float32)
            }},
            f,
            protocol=2)
    _refused(src, tmp_path / 'out.pth', r'a pickle, not a torch checkpoint '
             r'\(a Detectron/caffe2 .pkl')
    plain = tmp_path / 'plain.pkl'
    with open(plain, 'wb') as f:
        pickle.dump([1, 2, 3], f)
    _refused(plain, tmp_path / 'out.pth', 'a pickle, not a torch checkpoint')


def test_refuses_other_checkpoints(tmp_path):
    dst = tmp_path / 'out.pth'
    tv = {
        'conv1.weight': torch.zeros(64, 3, 7, 7),
        'layer1.0.conv1.weight': torch.zeros(64, 64, 1, 1),
        'fc.weight': torch.zeros(1000, 2048)
    }
    torch.save(tv, str(tmp_path / 'tv.pth'))
    _refused(tmp_path / 'tv.pth', dst,
             r"not a Detectron.pytorch model \(first keys: \['conv1")
    torch.save(
        {
            'meta': {},
            'state_dict': {
                'backbone.conv1.weight': torch.zeros(1)
            }
        }, str(tmp_path / 'mmdet.pth'))
    _refused(tmp_path / 'mmdet.pth', dst, 'mmdet/mmengine checkpoint')
    fpn = {
        'Conv_Body.conv_top.weight': torch.zeros(256, 2048, 1, 1),
        'Box_Head.fc1.weight': torch.zeros(1024, 12544)
    }
    torch.save({'model': fpn}, str(tmp_path / 'fpn.pth'))
    _refused(tmp_path / 'fpn.pth', dst, 'Generalized_RCNN of another arch')
    torch.save(torch.zeros(3), str(tmp_path / 'tensor.pth'))
    _refused(tmp_path / 'tensor.pth', dst, r'no state dict of tensors \(a T')


def test_refuses_a_state_dict_with_a_foreign_key():
    model = A.build_authors_model('det_2fc_1x')
    state = {
        k: torch.empty(v.shape, device='meta')
        for k, v in model.state_dict().items()
    }
    state['Box_Head.fc3.weight'] = torch.empty(3, device='meta')
    with pytest.raises(ValueError, match=r"1 keys .* no place.*fc3"):
        map_state_dict(state, detect_official_model(state))


def test_refuses_weights_that_do_not_fit_the_config(mask_file, tmp_path):
    src, _ = mask_file
    cityscapes = osp.join(
        ROOT, 'configs/panet/official/'
        'panet-official_r50_bufpn-gn_1x_cityscapes.py')
    # all 80 COCO classes into the 8-class config: shapes differ
    _refused(
        src,
        tmp_path / 'out.pth',
        r'(?s)does not fit the model of .*cityscapes.*of another shape',
        config=cityscapes)


class Opaque:
    """Something torch's weights_only unpickler does not allow."""


def test_safe_loader_refusal_names_the_flag(tmp_path):
    src = tmp_path / 'with_object.pth'
    _authors_file(src, 'det_2fc_1x', legacy=False, args=Opaque())
    _refused(src, tmp_path / 'out.pth', 'refused.*--trust-pickle')
    proc = run_tool([TOOL, str(src), str(tmp_path / 'out.pth')], check=False)
    assert proc.returncode == 2 and '--trust-pickle' in proc.stderr
    state, _ = load_authors_checkpoint(str(src), trust_pickle=True)
    assert detect_official_model(state).name == 'faster-rcnn-2fc-1x'


def test_every_official_config_exists():
    for model in OFFICIAL_MODELS:
        assert osp.isfile(osp.join(ROOT, model.config)), model.config
