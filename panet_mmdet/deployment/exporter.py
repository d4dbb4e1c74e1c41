"""Export a config + checkpoint to ONNX, and run the PyTorch reference.

    from panet_mmdet.apis import load_detector
    model = load_detector('configs/demo/panet_r18_bufpn-gn_demo.py',
                          'iter_1600.pth', device='cpu')
    export_onnx(model, 'panet.onnx', shape=(256, 256))

The graph contract is the class that :func:`exporter_class` picks from the
model: mmdet's frame (:class:`ExportableTwoStageDetector`) or, for a
``DetectronRoIHead``, the Detectron frame (:class:`DetectronFrameDetector`).
What the ONNX Runtime side needs to pre- and post-process is stored in the
file's metadata (:mod:`panet_mmdet.deployment.runtime`).
"""
import json
import os
import warnings
from typing import Dict, Optional, Tuple, Type

import numpy as np
import torch
from mmengine.config import Config

from ..models.roi_heads.detectron_roi_head import DetectronRoIHead
from .detector import ExportableTwoStageDetector
from .detectron_detector import DetectronFrameDetector
from .runtime import METADATA_KEY, to_original_frame

_DEFAULT_OPSET = 16  # RoiAlign's half_pixel mode and GridSample need 16
_STANDARD_DOMAINS = ('', 'ai.onnx')

_PIPELINE_STEPS = ('LoadImageFromFile', 'LoadAnnotations', 'Resize',
                   'DetectronResize', 'PackDetInputs')


def exporter_class(model: torch.nn.Module) -> Type[ExportableTwoStageDetector]:
    """The graph contract of ``model``: the Detectron frame for a
    ``DetectronRoIHead`` (models converted from the authors' checkpoints),
    mmdet's otherwise."""
    if isinstance(getattr(model, 'roi_head', None), DetectronRoIHead):
        return DetectronFrameDetector
    return ExportableTwoStageDetector


def _detectron_resize(step: Dict) -> Dict:
    """The runtime's record of a test-time ``DetectronResize`` step."""
    scales = step.get('scales', 1000)
    scales = list(scales) if isinstance(scales, (list, tuple)) else [scales]
    if len(scales) != 1:
        raise ValueError('the test pipeline DetectronResize draws its scale '
                         f'at random from {scales}; the ONNX Runtime '
                         'pre-processing needs one scale')
    return dict(
        type='DetectronResize',
        scales=[int(scales[0])],
        max_size=int(step.get('max_size', 1400)),
        keep_ratio=True)


def _test_resize(cfg: Config) -> Optional[Dict]:
    """The resize step of the test pipeline that mmdet's inference uses
    (``test_dataloader.dataset.pipeline``): for ``Resize``, ``scale`` and
    ``keep_ratio``; for ``DetectronResize``, ``type``, ``scales`` (one),
    ``max_size`` and ``keep_ratio=True``.

    Raises:
        ValueError: a step the ONNX Runtime pre-processing does not repeat.
    """
    pipeline = cfg.test_dataloader.dataset.get('pipeline') or cfg.get(
        'test_pipeline', [])
    resize = None
    for step in pipeline:
        kind = str(step.get('type')).replace('mmdet.', '')
        if kind not in _PIPELINE_STEPS:
            raise ValueError(
                f'the test pipeline has a {kind!r} step, which the ONNX '
                f'Runtime pre-processing does not repeat; supported steps: '
                f'{_PIPELINE_STEPS}')
        if kind == 'DetectronResize':
            resize = _detectron_resize(step)
            continue
        if kind != 'Resize':
            continue
        if 'scale' not in step or step.get('interpolation',
                                           'bilinear') != 'bilinear':
            raise ValueError('the test pipeline Resize needs `scale` and '
                             f'bilinear interpolation, got {dict(step)}')
        scale = step['scale']
        if isinstance(scale, int):
            scale = (scale, scale)
        resize = dict(
            scale=list(scale), keep_ratio=bool(step.get('keep_ratio', False)))
    return resize


def export_metadata(model: torch.nn.Module,
                    shape: Optional[Tuple[int, int]]) -> Dict:
    """What ONNX Runtime needs around the graph (stored in the file)."""
    cfg = model.cfg
    pre = cfg.model.get('data_preprocessor', {})
    meta = model.dataset_meta or {}
    classes = list(meta.get('classes') or [])
    palette = [list(c) for c in (meta.get('palette') or [])]
    roi_head = model.roi_head
    return dict(
        format=1,
        input_shape=list(shape) if shape else None,
        mean=[float(v) for v in pre.get('mean', (0., 0., 0.))],
        std=[float(v) for v in pre.get('std', (1., 1., 1.))],
        bgr_to_rgb=bool(pre.get('bgr_to_rgb', False)),
        pad_size_divisor=int(pre.get('pad_size_divisor', 1)),
        pad_value=float(pre.get('pad_value', 0)),
        resize=_test_resize(cfg),
        classes=classes,
        palette=palette,
        mask_thr_binary=float(roi_head.test_cfg.get('mask_thr_binary', 0.5)),
        max_per_img=int(roi_head.test_cfg.max_per_img),
        # inputs, outputs, output_frame, mask_paste
        **exporter_class(model).contract(roi_head.with_mask))


def check_standard_onnx(onnx_model) -> None:
    """``onnx.checker`` with ``full_check`` (shape inference included), and
    no node or opset outside the standard ONNX domain."""
    import onnx
    onnx.checker.check_model(onnx_model, full_check=True)
    custom = sorted({
        f'{n.domain}::{n.op_type}'
        for n in onnx_model.graph.node if n.domain not in _STANDARD_DOMAINS
    })
    custom += [
        f'opset {o.domain}' for o in onnx_model.opset_import
        if o.domain not in _STANDARD_DOMAINS
    ]
    if custom:
        raise RuntimeError('the exported graph uses ops outside the standard '
                           f'ONNX domain: {custom}')


def export_onnx(model: torch.nn.Module,
                out: str,
                shape: Tuple[int, int],
                opset: int = _DEFAULT_OPSET,
                dynamic: bool = False,
                roi_align_impl: str = 'onnx',
                example_input: Optional[torch.Tensor] = None) -> str:
    """Trace ``model``'s test-time path to ``out`` and check it.

    Args:
        model: A loaded two-stage detector (:func:`load_detector`).
        out: Output ``.onnx`` path.
        shape: ``(H, W)`` of the graph input (with ``dynamic``, the size it
            is traced at; any size works afterwards).
        opset: ONNX opset, >= 16.
        dynamic: Dynamic height and width.
        roi_align_impl: ``'onnx'`` (``RoiAlign``) or ``'grid_sample'``.
        example_input: ``(1, 3, H, W)`` to trace with (default: zeros).

    The graph's inputs and outputs are those of :func:`exporter_class`'s
    pick for ``model``.

    Raises:
        UnsupportedModelError: a part of the model does not export.
        ValueError: bad ``shape`` or ``opset``.
    """
    import onnx
    if opset < _DEFAULT_OPSET:
        raise ValueError(f'opset must be >= {_DEFAULT_OPSET} (RoiAlign with '
                         f"half_pixel, GridSample), got {opset}")
    if len(shape) != 2 or min(shape) < 32:
        raise ValueError(f'shape must be (H, W) with both >= 32, got {shape}')
    wrapper = exporter_class(model)(model, roi_align_impl).eval()
    if example_input is None:
        example_input = torch.zeros(1, 3, *shape)
    if tuple(example_input.shape) != (1, 3, *shape):
        raise ValueError(f'example_input must be (1, 3, {shape[0]}, '
                         f'{shape[1]}), got {tuple(example_input.shape)}')
    # the metadata first: a test pipeline it cannot describe stops here
    meta = export_metadata(model, None if dynamic else shape)
    meta['roi_align_impl'] = roi_align_impl
    names = wrapper.output_names
    dynamic_axes = {name: {1: 'num_dets'} for name in names}
    if dynamic:
        dynamic_axes['input'] = {2: 'height', 3: 'width'}
        if 'masks' in names:
            dynamic_axes['masks'].update({2: 'height', 3: 'width'})
    inputs = wrapper.example_inputs(example_input)
    with torch.no_grad(), warnings.catch_warnings():
        # mmdet's and mmcv's shape asserts and the extractors' size checks
        # trace as constants; that is intended (they validate, they do not
        # compute), and the tests run exported graphs on other sizes.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper,
            inputs,
            out,
            dynamo=False,
            opset_version=opset,
            input_names=list(wrapper.input_names),
            output_names=names,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True)
    onnx_model = onnx.load(out)
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    try:
        check_standard_onnx(onnx_model)
    except Exception:
        os.remove(out)  # never leave a graph that failed its check
        raise
    onnx.save(onnx_model, out)
    return out


def torch_predict(
    model: torch.nn.Module,
    input: torch.Tensor,
    img_shape: Optional[Tuple[int, int]] = None,
    ori_shape: Optional[Tuple[int, int]] = None,
    scale_factor: Optional[Tuple[float,
                                 float]] = None) -> Dict[str, np.ndarray]:
    """mmdet's own ``predict`` on a pre-processed ``(1, 3, H, W)`` input
    holding an ``img_shape`` image (default: all of it): the reference for
    the graph.

    By default the input is taken for the original image (``ori_shape``
    its size, ``scale_factor`` 1), so results are in the input's frame, as
    the graphs of most models return them. Models with a
    ``DetectronRoIHead`` compute in the original image: give them
    ``ori_shape`` and ``scale_factor`` (``preprocess``'s ``info``), as
    their graphs take them too.
    """
    from mmdet.structures import DetDataSample
    height, width = input.shape[-2:]
    img_shape = tuple(img_shape) if img_shape else (height, width)
    ori_shape = tuple(ori_shape) if ori_shape else (height, width)
    scale_factor = tuple(float(s) for s in scale_factor) if scale_factor \
        else (1., 1.)
    sample = DetDataSample(
        metainfo=dict(
            img_shape=tuple(int(s) for s in img_shape),
            ori_shape=tuple(int(s) for s in ori_shape),
            pad_shape=(height, width),
            batch_input_shape=(height, width),
            scale_factor=scale_factor))
    device = next(model.parameters()).device  # a model on a GPU too
    with torch.no_grad():
        pred = model.predict(
            input.to(device), [sample], rescale=True)[0].pred_instances
    result = dict(
        bboxes=pred.bboxes.cpu().numpy(),
        scores=pred.scores.cpu().numpy(),
        labels=pred.labels.cpu().numpy())
    if 'masks' in pred:
        result['masks'] = pred.masks.cpu().numpy().astype(bool)
    return result


def graph_result(
        outputs: Dict[str, np.ndarray],
        mask_thr: float = 0.5,
        ori_shape: Optional[Tuple[int, int]] = None) -> Dict[str, np.ndarray]:
    """Graph outputs -> the layout of :func:`torch_predict`.

    Original-frame graphs' ``mask_probs`` are pasted into an ``ori_shape``
    image (required then) as ``DetectronRoIHead`` pastes them, and
    binarised with ``> mask_thr``; other graphs' ``masks`` with
    ``>= mask_thr``, as mmdet.
    """
    if 'mask_probs' in outputs:
        if ori_shape is None:
            raise ValueError('graph_result needs ori_shape to paste '
                             'mask_probs')
        return to_original_frame(outputs, dict(ori_shape=ori_shape), mask_thr,
                                 'original')
    dets = outputs['dets'][0]
    result = dict(
        bboxes=dets[:, :4], scores=dets[:, 4], labels=outputs['labels'][0])
    if 'masks' in outputs:
        result['masks'] = outputs['masks'][0] >= mask_thr
    return result
