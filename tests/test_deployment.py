"""Whole detectors exported to ONNX and run in ONNX Runtime, against mmdet.

The demo PANet and the stock demo Mask R-CNN are first trained briefly on
the tiny generated data and compared on their training images, where they
detect with confidence: with random weights every score sits near a
threshold and float noise decides ties. Parity: every PyTorch detection
scoring >= 0.05 has an ONNX Runtime partner with the same label, box IoU >=
0.99 and |score difference| <= 1e-3, no extra ones, and mask IoU >= 0.98 per
matched instance.
"""
import glob
import importlib.util
import json
import os.path as osp
import re

import cv2
import numpy as np
import onnx
import pytest
import torch
from mmengine.config import Config

from panet_mmdet.apis import build_detector, load_detector
from panet_mmdet.deployment import (OnnxDetector, UnsupportedModelError,
                                    check_exportable, compare_detections,
                                    export_onnx, graph_result, preprocess,
                                    torch_predict)
from panet_mmdet.deployment.exporter import _test_resize, export_metadata
from panet_mmdet.deployment.runtime import box_iou, mask_iou
from panet_mmdet.utils.configs import load_config
from conftest import ROOT, TINY_CONFIG, data_options, run_tool

pytestmark = pytest.mark.slow

PANET_DEMO = 'configs/demo/panet_r18_bufpn-gn_demo.py'
STOCK_DEMO = 'configs/demo/mask-rcnn_r18_fpn-gn_demo.py'
TRAIN_ITERS = 40


def _tiny_config(config, data_root, path):
    """``config``'s model with the tiny test config's data and a short,
    constant-LR schedule; RoI budgets trimmed for speed."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    tiny = Config.fromfile(TINY_CONFIG)
    for key in ('train_pipeline', 'test_pipeline', 'train_dataloader',
                'val_dataloader', 'test_dataloader', 'default_hooks'):
        cfg[key] = tiny[key]
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop',
        max_iters=TRAIN_ITERS,
        val_interval=TRAIN_ITERS + 1)
    cfg.param_scheduler = [
        dict(
            type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)
    ]
    cfg.optim_wrapper.optimizer.lr = 3e-3
    cfg.model.train_cfg.rpn_proposal.max_per_img = 200
    cfg.model.train_cfg.rcnn.sampler.num = 32
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', by_epoch=False, interval=TRAIN_ITERS)
    cfg.default_hooks.logger.interval = 50
    cfg.dump(path)
    return path


def _train(name, config, data_root, tmp_path_factory):
    """Train ``config`` briefly; ``(config path, checkpoint path)``."""
    work = tmp_path_factory.mktemp(f'train_{name}')
    cfg_path = _tiny_config(config, data_root, str(work / f'{name}.py'))
    # one thread, whatever the test process has: another thread count
    # trains another model
    run_tool([
        'tools/train.py', cfg_path, '--work-dir',
        str(work), '--cfg-options', *data_options(data_root)
    ],
             env=dict(OMP_NUM_THREADS='1'))
    return cfg_path, str(work / f'iter_{TRAIN_ITERS}.pth')


@pytest.fixture(scope='module')
def trained_panet(tiny_data, tmp_path_factory):
    return _train('panet', PANET_DEMO, tiny_data, tmp_path_factory)


@pytest.fixture(scope='module')
def trained_stock(tiny_data, tmp_path_factory):
    return _train('stock', STOCK_DEMO, tiny_data, tmp_path_factory)


@pytest.fixture(scope='module')
def panet(trained_panet):
    return load_detector(*trained_panet)


@pytest.fixture(scope='module')
def panet_onnx(panet, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('onnx') / 'panet.onnx')
    return export_onnx(panet, out, (128, 128))


def _images(data_root):
    """The training images: the briefly trained models are confident on
    these (parity needs confident detections, not generalisation)."""
    return sorted(glob.glob(osp.join(data_root, 'train', '*.png')))


def _parity(model, onnx_path, image, pad_to=None):
    """PyTorch and ONNX Runtime on the same pre-processed input."""
    detector = OnnxDetector(onnx_path)
    input, info = preprocess(image, detector.meta, pad_to=pad_to)
    reference = torch_predict(model, torch.from_numpy(input),
                              info['img_shape'])
    outputs = detector.run(input, info['img_shape'])
    report = compare_detections(reference, graph_result(outputs))
    assert report.ok(), report.summary()
    return reference, outputs, report


def _check_parity_on_images(model, onnx_path, data_root):
    confident, top = 0, []
    for path in _images(data_root):
        reference, _, report = _parity(model, onnx_path, cv2.imread(path))
        assert report.matched == report.num_test == len(reference['scores'])
        confident += int((reference['scores'] >= 0.5).sum())
        top.extend(reference['scores'][:3].round(2).tolist())
    # the comparison is not vacuous: the model detects with confidence
    assert confident >= 8, (confident, top)


def test_panet_onnx_matches_pytorch(panet, panet_onnx, tiny_data):
    model = onnx.load(panet_onnx)
    assert {o.name for o in model.graph.output} == {'dets', 'labels', 'masks'}
    assert {'RoiAlign', 'NonMaxSuppression',
            'GridSample'} <= {n.op_type
                              for n in model.graph.node}
    _check_parity_on_images(panet, panet_onnx, tiny_data)


def test_a_coco_config_exports_and_verifies(tmp_path):
    """The COCO PANet config (ResNet-50, 81 classes, its own test pipeline)
    exports and ONNX Runtime matches PyTorch, at a small input. Random
    weights with one class made confident, so that every detection is
    compared (score_min) and the masks are not empty."""
    options = {
        # 100 proposals instead of 1000: the heads on all four levels take
        # most of the time of both runtimes
        'model.test_cfg.rpn.max_per_img': 100,
        'model.test_cfg.rcnn.score_thr': 0.0,
        'model.test_cfg.rcnn.max_per_img': 20,
        'test_dataloader.dataset.pipeline.1.scale': (128, 128)
    }
    torch.manual_seed(0)
    model = load_detector(
        osp.join(ROOT, 'configs/panet/panet_r50_bufpn-gn_1x_coco.py'),
        None,
        device='cpu',
        cfg_options=options)
    with torch.no_grad():
        model.roi_head.bbox_head.fc_cls.bias[0] += 6.
    out = export_onnx(model, str(tmp_path / 'coco.onnx'), (128, 128))
    image = (np.random.default_rng(0).random(
        (100, 120, 3)) * 255).astype(np.uint8)
    reference, _, report = _parity(model, out, image)
    assert report.matched == report.num_test == 20, report.summary()
    assert (reference['scores'] > 0.5).all()


def test_stock_mask_rcnn_onnx_matches_pytorch(trained_stock, tiny_data,
                                              tmp_path):
    model = load_detector(*trained_stock)
    out = export_onnx(model, str(tmp_path / 'stock.onnx'), (128, 128))
    _check_parity_on_images(model, out, tiny_data)


def test_grid_sample_roi_align_export_matches(panet, tiny_data, tmp_path):
    out = export_onnx(
        panet,
        str(tmp_path / 'gs.onnx'), (128, 128),
        roi_align_impl='grid_sample')
    ops = {n.op_type for n in onnx.load(out).graph.node}
    assert 'RoiAlign' not in ops and 'GridSample' in ops
    for path in _images(tiny_data)[:2]:
        _parity(panet, out, cv2.imread(path))


def test_box_only_model(trained_panet, tiny_data, tmp_path):
    """The box branch of the trained PANet as a Faster R-CNN: two outputs."""
    cfg = Config.fromfile(trained_panet[0])
    cfg.model.type = 'FasterRCNN'
    cfg.model.roi_head.mask_roi_extractor = None
    cfg.model.roi_head.mask_head = None
    model = load_detector(cfg, trained_panet[1], strict=False)
    out = export_onnx(model, str(tmp_path / 'faster.onnx'), (128, 128))
    names = [o.name for o in onnx.load(out).graph.output]
    assert names == ['dets', 'labels']
    reference, outputs, report = _parity(model, out,
                                         cv2.imread(_images(tiny_data)[0]))
    assert report.matched >= 1 and 'masks' not in outputs


def test_empty_results(panet, panet_onnx, tiny_data, tmp_path):
    """No detection: N = 0 with the right shapes, never an error."""
    # A uniform image runs (a trained model may find slivers in it; its
    # RoIs share features, so scores tie and parity is not meaningful).
    blank = np.full((128, 128, 3), 127, np.uint8)
    detector = OnnxDetector(panet_onnx)
    outputs = detector.run(preprocess(blank, detector.meta)[0])
    n = outputs['dets'].shape[1]
    assert outputs['labels'].shape == (1, n)
    assert outputs['masks'].shape == (1, n, 128, 128)
    # a score threshold nothing passes forces the empty path in both
    none_pass = load_detector(
        panet.cfg.filename,
        None,
        cfg_options={'model.test_cfg.rcnn.score_thr': 1.0})
    none_pass.load_state_dict(panet.state_dict())
    out = export_onnx(none_pass, str(tmp_path / 'none.onnx'), (128, 128))
    reference, outputs, _ = _parity(none_pass, out,
                                    cv2.imread(_images(tiny_data)[0]))
    assert len(reference['scores']) == 0
    assert outputs['dets'].shape == (1, 0, 5)
    assert outputs['labels'].shape == (1, 0)
    assert outputs['masks'].shape == (1, 0, 128, 128)


def test_dynamic_shapes_and_odd_sizes(panet, tiny_data, tmp_path):
    """One dynamic graph for every size; a static graph whose size is not
    a multiple of 32."""
    image = cv2.imread(_images(tiny_data)[0])
    dynamic = export_onnx(
        panet, str(tmp_path / 'dyn.onnx'), (128, 128), dynamic=True)
    for pad_to in ((128, 128), (160, 224), (136, 150)):
        _, outputs, report = _parity(panet, dynamic, image, pad_to=pad_to)
        assert outputs['masks'].shape[2:] == pad_to
        assert report.matched >= 1
    static = export_onnx(panet, str(tmp_path / 'odd.onnx'), (130, 141))
    _, outputs, report = _parity(panet, static, image)
    assert outputs['masks'].shape[2:] == (130, 141) and report.matched >= 1


def test_onnx_detector_equals_mmdet_inference(panet, panet_onnx, tiny_data,
                                              tmp_path):
    """Image file in, detections in the image's own frame out: the same as
    mmdet's ``inference_detector`` (what tools/infer.py runs), also for an
    image the test pipeline resizes."""
    from mmdet.apis import inference_detector
    dynamic = export_onnx(
        panet, str(tmp_path / 'dyn.onnx'), (128, 128), dynamic=True)
    val = _images(tiny_data)[0]
    small = str(tmp_path / 'resized.png')
    cv2.imwrite(small, cv2.resize(cv2.imread(val), (150, 100)))
    for path, onnx_path in ((val, panet_onnx), (small, dynamic)):
        pred = inference_detector(panet, path).pred_instances
        reference = dict(
            bboxes=pred.bboxes.numpy(),
            scores=pred.scores.numpy(),
            labels=pred.labels.numpy(),
            masks=pred.masks.numpy().astype(bool))
        result = OnnxDetector(onnx_path)(cv2.imread(path))
        assert result['masks'].shape[1:] == cv2.imread(path).shape[:2]
        report = compare_detections(reference, result)
        assert report.matched >= 1
        if path == val:
            assert report.ok(), report.summary()
            continue
        # Resized image: boxes, scores and labels match as before; masks
        # are pasted in the input frame and then resized (mmdet pastes into
        # the original frame directly), which changes masks of a few dozen
        # pixels (slivers along the border; a box can be large around
        # one), not larger ones.
        assert report.ok(min_mask_iou=0.), report.summary()
        assert report.mean_mask_iou >= 0.9, report.summary()
        checked = 0
        for i, box in enumerate(reference['bboxes']):
            if reference['masks'][i].sum() < 64:  # under 8 x 8 pixels
                continue
            ious = box_iou(box[None].astype(np.float64),
                           result['bboxes'].astype(np.float64))[0]
            j = int(
                np.argmax(
                    np.where(result['labels'] == reference['labels'][i], ious,
                             -1)))
            assert ious[j] >= 0.99
            assert mask_iou(reference['masks'][i], result['masks'][j]) >= .85
            checked += 1
        assert checked >= 3, checked


def test_preprocess_matches_mmdet_pipeline(panet, tmp_path):
    """numpy pre-processing == mmdet's test pipeline + data_preprocessor."""
    from mmcv.transforms import Compose
    from mmdet.utils import register_all_modules
    register_all_modules()
    rng = np.random.default_rng(0)
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, rng.integers(0, 255, (100, 150, 3), np.uint8))
    pipeline = Compose([
        s for s in panet.cfg.test_dataloader.dataset.pipeline
        if s['type'] != 'LoadAnnotations'
    ])
    data = pipeline(dict(img_path=path, img_id=0))
    batch = panet.data_preprocessor(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]))
    expected = batch['inputs'].numpy()
    meta = export_metadata(panet, None)  # a dynamic graph's record
    ours, info = preprocess(cv2.imread(path), meta)
    assert ours.shape == expected.shape  # dynamic: padded to /32
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    assert info['img_shape'] == tuple(data['data_samples'].img_shape)
    np.testing.assert_allclose(info['scale_factor'],
                               data['data_samples'].scale_factor)


CONFIGS = sorted(
    glob.glob(
        osp.join(ROOT, 'configs', 'panet', '**', '*.py'), recursive=True) +
    glob.glob(osp.join(ROOT, 'configs', 'demo', '*.py')) + [
        osp.join(ROOT, 'configs', 'drop_in', 'faster-rcnn_r50_bufpn_1x_coco.py'
                 ), 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
        'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
    ])


@pytest.mark.parametrize(
    'config', CONFIGS, ids=[osp.basename(c) for c in CONFIGS])
def test_every_two_stage_config_is_exportable(config):
    check_exportable(build_detector(config))
    # the test pipeline is one the ONNX Runtime pre-processing repeats
    resize = _test_resize(load_config(config))
    assert resize is not None and resize['keep_ratio']


def test_unsupported_settings_are_named():
    """Settings the graph would silently ignore stop the export."""
    for key, value, part in (('rcnn',
                              dict(
                                  type='nms',
                                  iou_threshold=0.5,
                                  class_agnostic=True),
                              'test_cfg.rcnn.nms.class_agnostic=True'),
                             ('rpn',
                              dict(type='nms', iou_threshold=0.7,
                                   offset=2), 'test_cfg.rpn.nms.offset=2'),
                             ('rcnn', dict(type='soft_nms', iou_threshold=0.5),
                              "test_cfg.rcnn.nms.type is 'soft_nms'")):
        cfg = load_config(osp.join(ROOT, PANET_DEMO))
        cfg.model.test_cfg[key].nms = value
        with pytest.raises(UnsupportedModelError, match=re.escape(part)):
            check_exportable(build_detector(cfg))
    cfg = load_config(osp.join(ROOT, PANET_DEMO))
    cfg.test_dataloader.dataset.pipeline.insert(
        2, dict(type='Pad', size_divisor=64))
    with pytest.raises(ValueError, match="a 'Pad' step"):
        _test_resize(cfg)


@pytest.mark.parametrize('config,part', [
    ('retinanet_r50_bufpn_1x_coco.py', 'RetinaNet is not a two-stage'),
    ('cascade-mask-rcnn_r50_bufpn_1x_coco.py', 'CascadeRoIHead'),
])
def test_unsupported_configs_name_the_part(config, part):
    with pytest.raises(UnsupportedModelError, match=part):
        check_exportable(
            build_detector(osp.join(ROOT, 'configs', 'drop_in', config)))


def test_export_rejects_bad_arguments(panet, tmp_path):
    with pytest.raises(ValueError, match='opset must be >= 16'):
        export_onnx(panet, str(tmp_path / 'x.onnx'), (128, 128), opset=11)
    with pytest.raises(ValueError, match='shape must be'):
        export_onnx(panet, str(tmp_path / 'x.onnx'), (16, 128))
    meta = dict(
        mean=[0] * 3,
        std=[1] * 3,
        bgr_to_rgb=False,
        input_shape=[64, 64],
        resize=None)
    with pytest.raises(ValueError, match='larger than the graph input'):
        preprocess(np.zeros((100, 100, 3), np.uint8), meta)


def _load_tool(name):
    path = osp.join(ROOT, 'tools', 'deployment', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tools_export_verify_and_infer_without_torch(trained_panet, panet,
                                                     tiny_data, tmp_path):
    config, ckpt = trained_panet
    image = _images(tiny_data)[0]
    out = str(tmp_path / 'panet.onnx')
    proc = run_tool([
        'tools/deployment/export_onnx.py', config, ckpt, '--out', out,
        '--shape', '128', '128', '--verify', image,
        osp.join(tiny_data, 'train')
    ])
    assert 'standard ONNX ops only' in proc.stdout
    assert 'reference detections matched' in proc.stdout
    assert 'verify: 9/9 images match' in proc.stdout

    # --verify fails when the graph does not reproduce the model
    changed = load_detector(config, ckpt)
    with torch.no_grad():
        changed.roi_head.bbox_head.fc_cls.bias[0] += 3.
    assert not _load_tool('export_onnx').verify(changed, out, image, 0.05)

    # onnx_infer runs where torch cannot be imported
    fake = tmp_path / 'no_torch' / 'torch'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text(
        'raise ImportError("torch must not be imported by onnx_infer")\n')
    vis, preds = str(tmp_path / 'vis.png'), str(tmp_path / 'preds.json')
    run_tool([
        'tools/deployment/onnx_infer.py', out, image, '--out', vis,
        '--save-pred', preds
    ],
             env={'PYTHONPATH': str(tmp_path / 'no_torch')})
    assert cv2.imread(vis).shape == cv2.imread(image).shape
    record = json.load(open(preds))
    direct = OnnxDetector(out)(cv2.imread(image))
    assert record['labels'] == direct['labels'].tolist()
    np.testing.assert_allclose(record['scores'], direct['scores'], atol=1e-5)
    assert record['classes'] == ['circle', 'rectangle', 'triangle']
    assert len(record['masks']) == len(record['scores'])

    # the same detections as tools/infer.py (mmdet's DetInferencer)
    run_tool([
        'tools/infer.py', image, config, ckpt, '--out-dir',
        str(tmp_path / 'mmdet'), '--save-pred'
    ])
    name = osp.splitext(osp.basename(image))[0]
    reference = str(tmp_path / 'mmdet' / 'preds' / f'{name}.json')
    proc = run_tool(
        ['tools/deployment/compare_predictions.py', reference, preds])
    assert 'reference detections matched' in proc.stdout
    assert 'mask IoU' in proc.stdout
    # and it fails on different detections
    record['scores'][0] += 0.1
    json.dump(record, open(preds, 'w'))
    proc = run_tool(
        ['tools/deployment/compare_predictions.py', reference, preds],
        check=False)
    assert proc.returncode == 1 and 'UNMATCHED' in proc.stdout
