"""Models converted from the PANet authors' checkpoints
(configs/panet/official) exported to ONNX and run in ONNX Runtime, against
the PyTorch model.

The checkpoints are the converter's output for the authors' model trees of
tests/reference/authors_panet.py filled with random values (as in
tests/test_official_parity.py, where such a model detects 100 objects of
several classes on the photograph with scores up to ~0.6). Images are resized
by the configs' DetectronResize to a short side of 160 (long side <= 256)
instead of 1000/1400, and the heads see the RPN's 300 best proposals instead
of 1000, to keep the tests fast; the code paths are the same.

The graph reproduces the Detectron conventions (+1 box coder, padded RPN
clip, RoIAlign without the half-pixel shift, +1 NMS areas, decoding and NMS
in the original image, exclusive far corners) and the runtime pastes the
masks with the authors' rule, so every detection has an ONNX Runtime
partner with the same label, |score difference| <= 1e-4, box IoU >= 0.999
and the same mask (IoU 1 up to pixels sitting on the threshold).
"""
import copy
import importlib.util
import os.path as osp
import re

import cv2
import matplotlib.cbook as cbook
import numpy as np
import onnx
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate

from panet_mmdet.apis import build_detector, load_detector
from panet_mmdet.checkpoint.official import (detect_official_model,
                                             map_state_dict)
from panet_mmdet.deployment import (OnnxDetector, UnsupportedModelError,
                                    check_exportable, compare_detections,
                                    export_onnx, preprocess)
from panet_mmdet.deployment.exporter import _test_resize, export_metadata
from conftest import ROOT, run_tool
from reference import authors_panet as A

PHOTO = cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)
SCALE, MAX_SIZE = 160, 256
PROPOSALS = 300
OFFICIAL = osp.join(ROOT, 'configs', 'panet', 'official')
MASK_CONFIG = osp.join(OFFICIAL, 'panet-official_r50_bufpn-gn_2x_coco.py')
FC2_CONFIG = osp.join(
    OFFICIAL, 'panet-official-faster-rcnn-2fc_r50_bufpn-gn_1x_coco.py')


def _config(path, scale=SCALE, max_size=MAX_SIZE):
    cfg = Config.fromfile(path)
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'DetectronResize':
            step['scales'], step['max_size'] = scale, max_size
    # the 300 best proposals instead of 1000: every RoI goes through the
    # heads on all four levels, most of the time of both runtimes
    cfg.model.test_cfg.rpn.max_per_img = PROPOSALS
    return cfg


def _converted(variant, path, seed=0):
    """The official detector holding the converted random authors' model."""
    authors = A.build_authors_model(variant)
    A.randomize_(authors, seed)
    state = authors.state_dict()
    mapped = map_state_dict(state, detect_official_model(state))
    model = load_detector(_config(path))
    model.load_state_dict(mapped, strict=True)
    return model


def _padded_input_shape(image, divisor=32):
    s = A.get_target_scale(
        min(image.shape[:2]), max(image.shape[:2]), SCALE, MAX_SIZE)
    h, w = (int(round(v * s)) for v in image.shape[:2])
    return -(-h // divisor) * divisor, -(-w // divisor) * divisor


@pytest.fixture(scope='module')
def photo():
    return cv2.imread(PHOTO)


@pytest.fixture(scope='module')
def wide(photo, tmp_path_factory):
    """A wide crop of the photograph: DetectronResize's max_size binds."""
    path = str(tmp_path_factory.mktemp('images') / 'wide.png')
    cv2.imwrite(path, photo[150:350])
    return path


@pytest.fixture(scope='module')
def mask_model():
    return _converted('mask_2x', MASK_CONFIG)


@pytest.fixture(scope='module')
def mask_onnx(mask_model, photo, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('official') / 'mask.onnx')
    return export_onnx(mask_model, out, _padded_input_shape(photo))


@pytest.fixture(scope='module')
def fc2_model():
    return _converted('det_2fc_1x', FC2_CONFIG, seed=1)


@pytest.fixture(scope='module')
def fc2_onnx(fc2_model, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('official') / 'fc2.onnx')
    return export_onnx(fc2_model, out, (192, 160), dynamic=True)


def _mmdet_inference(model, path):
    """mmdet's inference on an image file (the config's test pipeline with
    DetectronResize, ``predict(rescale=True)``): detections in the image's
    own frame. (An array instead of a file would make ``inference_detector``
    rewrite ``model.cfg``'s pipeline in place.)"""
    from mmdet.apis import inference_detector
    pred = inference_detector(model, path).pred_instances
    result = dict(
        bboxes=pred.bboxes.numpy(),
        scores=pred.scores.numpy(),
        labels=pred.labels.numpy())
    if 'masks' in pred:
        result['masks'] = pred.masks.numpy().astype(bool)
    return result


def _check_parity(reference, result, min_detections=20):
    report = compare_detections(
        reference, result, box_iou_min=0.999, score_tol=1e-4)
    assert report.ok(min_mask_iou=0.98), report.summary()
    n = len(reference['scores'])
    assert report.matched == n == len(result['scores']), report.summary()
    # not vacuous: many detections of several classes
    assert n >= min_detections and len(set(reference['labels'])) >= 2, n
    return report


def test_mask_model_onnx_matches_pytorch_on_a_photograph(
        mask_model, mask_onnx, photo):
    graph = onnx.load(mask_onnx, load_external_data=False)
    assert [i.name for i in graph.graph.input
            ] == ['input', 'img_shape', 'ori_shape', 'scale_factor']
    assert [o.name
            for o in graph.graph.output] == ['dets', 'labels', 'mask_probs']
    roi_aligns = [n for n in graph.graph.node if n.op_type == 'RoiAlign']
    assert roi_aligns and all(
        onnx.helper.get_attribute_value(a) == b'output_half_pixel'
        for n in roi_aligns
        for a in n.attribute if a.name == 'coordinate_transformation_mode')
    assert 'NonMaxSuppression' in {n.op_type for n in graph.graph.node}

    reference = _mmdet_inference(mask_model, PHOTO)
    detector = OnnxDetector(mask_onnx)
    assert detector.meta['output_frame'] == 'original'
    result = detector(photo)
    assert result['masks'].shape == (len(result['scores']), *photo.shape[:2])
    report = _check_parity(reference, result, min_detections=50)
    # the same pasted masks, pixel for pixel (but a threshold tie)
    assert report.mean_mask_iou >= 0.999, report.summary()
    assert reference['masks'].sum() > 1000
    # boxes in the original image, exclusive far corners, to float noise
    order = np.argsort(-reference['scores'], kind='stable')
    np.testing.assert_allclose(
        result['bboxes'], reference['bboxes'][order], rtol=0, atol=1e-3)
    assert result['bboxes'][:, 2].max() > 0.5 * photo.shape[1]


def test_box_only_2fc_model_matches_pytorch_at_two_sizes(
        fc2_model, fc2_onnx, wide):
    """One dynamic graph; a portrait photo (the short side sets the scale)
    and a wide crop of it (the long side does: max_size binds)."""
    graph = onnx.load(fc2_onnx, load_external_data=False)
    assert [o.name for o in graph.graph.output] == ['dets', 'labels']
    detector = OnnxDetector(fc2_onnx)
    for path in (PHOTO, wide):
        result = detector(cv2.imread(path))
        assert 'masks' not in result
        _check_parity(_mmdet_inference(fc2_model, path), result)


def _load_tool(name):
    path = osp.join(ROOT, 'tools', 'deployment', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_verify_passes_and_catches_a_different_model(fc2_model, fc2_onnx, wide,
                                                     capsys):
    """export_onnx.py --verify (torch_predict and graph_result in the
    original frame) on the wide image; a changed model fails it."""
    verify = _load_tool('export_onnx').verify
    assert verify(fc2_model, fc2_onnx, wide, 0.05)
    out = capsys.readouterr().out
    assert re.search(r'([1-9]\d*)/\1 reference detections matched', out), out
    changed = copy.deepcopy(fc2_model)
    with torch.no_grad():
        changed.roi_head.bbox_head.fc_cls.bias[0] += 3.
    assert not verify(changed, fc2_onnx, wide, 0.05)


def test_onnx_infer_runs_the_mask_model_without_torch(mask_onnx, photo,
                                                      tmp_path):
    fake = tmp_path / 'no_torch' / 'torch'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text(
        'raise ImportError("torch must not be imported by onnx_infer")\n')
    vis = str(tmp_path / 'vis.png')
    proc = run_tool([
        'tools/deployment/onnx_infer.py', mask_onnx, PHOTO, '--out', vis,
        '--score-thr', '0.5'
    ],
                    env={'PYTHONPATH': str(tmp_path / 'no_torch')})
    assert re.search(r'\d+ detections, [1-9]\d* drawn', proc.stdout)
    assert cv2.imread(vis).shape == photo.shape


@pytest.mark.parametrize(
    'size', [(600, 512), (200, 512), (97, 131)],
    ids=['short-side', 'max-size', 'odd'])
def test_runtime_preprocess_equals_detectron_resize(mask_model, size,
                                                    tmp_path):
    """numpy/OpenCV pre-processing == the test pipeline (DetectronResize)
    + the data preprocessor, exactly, and the same scale factor."""
    rng = np.random.default_rng(sum(size))
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, rng.integers(0, 256, (*size, 3), np.uint8))
    pipeline = Compose([
        s for s in mask_model.cfg.test_dataloader.dataset.pipeline
        if s['type'] != 'LoadAnnotations'
    ])
    data = pipeline(dict(img_path=path, img_id=0))
    batch = mask_model.data_preprocessor(pseudo_collate([data]), False)
    sample = batch['data_samples'][0]
    meta = export_metadata(mask_model, None)  # a dynamic graph's record
    assert meta['resize'] == dict(
        type='DetectronResize',
        scales=[SCALE],
        max_size=MAX_SIZE,
        keep_ratio=True)
    ours, info = preprocess(cv2.imread(path), meta)
    np.testing.assert_array_equal(ours, batch['inputs'].numpy())
    assert info['img_shape'] == tuple(sample.img_shape)
    assert info['scale_factor'] == sample.scale_factor
    assert info['ori_shape'] == size


def test_official_configs_are_exportable_and_limits_are_named():
    for name in ('panet-official_r50_bufpn-gn_2x_coco.py',
                 'panet-official-faster-rcnn_r50_bufpn-gn_1x_coco.py',
                 'panet-official-faster-rcnn-2fc_r50_bufpn-gn_1x_coco.py',
                 'panet-official_r50_bufpn-gn_1x_cityscapes.py'):
        cfg = Config.fromfile(osp.join(OFFICIAL, name))
        check_exportable(build_detector(cfg))
        assert _test_resize(cfg)['type'] == 'DetectronResize'
    for key, value, part in (
        ('model.rpn_head.anchor_generator',
         dict(
             _delete_=True,
             type='LegacyAnchorGenerator',
             strides=[4, 8, 16, 32, 64],
             ratios=[0.5, 1., 2.],
             scales=[8]),
         'rpn_head.anchor_generator is LegacyAnchorGenerator'),
        ('model.roi_head.bbox_head.bbox_coder',
         dict(_delete_=True, type='LegacyDeltaXYWHBBoxCoder'),
         'bbox_head.bbox_coder is LegacyDeltaXYWHBBoxCoder'),
        ('model.test_cfg.rcnn.nms',
         dict(type='nms', iou_threshold=0.5, offset=1,
              class_agnostic=True), 'test_cfg.rcnn.nms.class_agnostic=True')):
        cfg = Config.fromfile(FC2_CONFIG)
        cfg.merge_from_dict({key: value})
        with pytest.raises(UnsupportedModelError, match=re.escape(part)):
            check_exportable(build_detector(cfg))
    # a test-time DetectronResize that draws its scale at random
    cfg = Config.fromfile(FC2_CONFIG)
    cfg.test_dataloader.dataset.pipeline[1]['scales'] = (800, 1000)
    with pytest.raises(ValueError, match='needs one scale'):
        _test_resize(cfg)
