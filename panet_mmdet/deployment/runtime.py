"""Run an exported detector with ONNX Runtime: numpy, OpenCV, no torch.

This module imports only numpy, OpenCV, onnxruntime and the numpy-only
:mod:`panet_mmdet.detectron_numpy`; ``import panet_mmdet`` registers the
training modules only where torch and mmdet import. A deployment machine
with only ``onnxruntime``, ``numpy``, ``opencv-python`` and ``pip install
--no-deps panet_mmdet`` (no torch, mmcv or mmdet) runs ``from
panet_mmdet.deployment.runtime import OnnxDetector`` or
``python -m panet_mmdet.deployment.onnx_infer`` (the code of
``tools/deployment/onnx_infer.py``).

The exporter stores in the ONNX file (metadata key ``panet_mmdet``) what
pre- and post-processing need: mean, std, channel order, the test
pipeline's resize, padding, class names, palette, mask threshold, the
graph's inputs and the frame of its outputs.

Pre-processing = mmdet's test pipeline (``LoadImageFromFile`` with OpenCV,
``Resize`` or the PANet authors' ``DetectronResize``) plus its
``DetDataPreprocessor`` (channel order, normalisation, zero padding at the
bottom and right), for one image:

    >>> detector = OnnxDetector('panet.onnx')
    >>> input, info = preprocess(cv2.imread('img.png'), detector.meta)
    >>> input.shape           # (1, 3, H, W) float32: the graph's `input`
    >>> info['img_shape']     # (h, w) of the image in it: `img_shape`
    >>> result = detector(cv2.imread('img.png'))   # all of it, image frame

Models converted from the PANet authors' checkpoints (``DetectronRoIHead``,
metadata ``output_frame='original'``) take two more inputs,
``ori_shape`` and ``scale_factor`` (:meth:`OnnxDetector.run` feeds them from
``info``), return their boxes in the original image already and their
masks as ``mask_probs`` ``(1, N, 28, 28)``, which
:func:`to_original_frame` pastes with the authors' rule
(:func:`paste_masks_detectron`, the function ``DetectronRoIHead`` uses).
"""
import json
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..detectron_numpy import detectron_scale, paste_masks_detectron

__all__ = [
    'METADATA_KEY', 'OnnxDetector', 'detectron_scale', 'draw_detections',
    'paste_detectron_outputs', 'paste_masks_detectron', 'preprocess',
    'to_original_frame'
]

METADATA_KEY = 'panet_mmdet'


# ---------------------------------------------------------- pre-processing
def _rescale_size(width: int, height: int,
                  scale: Tuple[int, int]) -> Tuple[int, int]:
    """mmcv's ``imrescale`` size: fit the long and the short edge into
    ``max(scale)`` and ``min(scale)``, keeping the aspect ratio."""
    factor = min(
        max(scale) / max(height, width),
        min(scale) / min(height, width))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def preprocess(
        image: np.ndarray,
        meta: Dict,
        pad_to: Optional[Tuple[int, int]] = None) -> Tuple[np.ndarray, Dict]:
    """BGR ``uint8`` image ``(h, w, 3)`` -> graph input ``(1, 3, H, W)``.

    Args:
        image: As ``cv2.imread`` returns it.
        meta: The exporter's record (``OnnxDetector(...).meta``).
        pad_to: Pad to this ``(H, W)``; default: the graph's fixed input
            size, or (dynamic graphs) the next multiple of
            ``pad_size_divisor``.

    Returns:
        ``(input, info)``; ``info`` has ``ori_shape``, ``img_shape`` (the
        resized image inside the padded input) and ``scale_factor``
        ``(w_scale, h_scale)``, as in mmdet's metainfo (``DetectronResize``:
        ``(s, s)``).
    """
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError('expected a BGR image of shape (h, w, 3), got '
                         f'{None if image is None else image.shape}')
    ori_h, ori_w = image.shape[:2]
    resize = meta.get('resize')
    scale_factor = None
    if resize and resize.get('type') == 'DetectronResize':
        # as DetectronResize: float32 image, OpenCV's fx = fy = s grid
        s = detectron_scale(ori_h, ori_w, resize['scales'][0],
                            resize['max_size'])
        image = cv2.resize(
            image.astype(np.float32),
            None,
            None,
            fx=s,
            fy=s,
            interpolation=cv2.INTER_LINEAR)
        scale_factor = (s, s)
    elif resize:
        scale = tuple(resize['scale'])
        if resize['keep_ratio']:
            new_w, new_h = _rescale_size(ori_w, ori_h, scale)
        else:
            new_w, new_h = scale
        if (new_w, new_h) != (ori_w, ori_h):
            image = cv2.resize(
                image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    img_h, img_w = image.shape[:2]
    x = image.astype(np.float32)
    if meta['bgr_to_rgb']:
        x = x[..., ::-1]
    x = (x - np.asarray(meta['mean'], np.float32)) / np.asarray(
        meta['std'], np.float32)
    if pad_to is None:
        if meta.get('input_shape'):
            pad_to = tuple(meta['input_shape'])
        else:
            div = max(int(meta.get('pad_size_divisor', 1)), 1)
            pad_to = (-(-img_h // div) * div, -(-img_w // div) * div)
    if img_h > pad_to[0] or img_w > pad_to[1]:
        raise ValueError(
            f'the resized image ({img_h}x{img_w}) is larger than the '
            f'graph input {pad_to[0]}x{pad_to[1]}: export with a larger '
            '--shape, or with --dynamic')
    padded = np.full((pad_to[0], pad_to[1], 3), meta.get('pad_value', 0.),
                     np.float32)
    padded[:img_h, :img_w] = x
    if scale_factor is None:
        scale_factor = (img_w / ori_w, img_h / ori_h)
    info = dict(
        ori_shape=(ori_h, ori_w),
        img_shape=(img_h, img_w),
        scale_factor=scale_factor)
    return np.ascontiguousarray(padded.transpose(2, 0, 1)[None]), info


# --------------------------------------------------------- post-processing
def paste_detectron_outputs(outputs: Dict[str, np.ndarray],
                            ori_shape: Tuple[int, int],
                            mask_thr: float = 0.5) -> np.ndarray:
    """``mask_probs`` of an original-frame graph -> ``(N, h, w)`` bool masks
    of the ``ori_shape`` image, pasted at ``dets`` (exclusive far corners,
    moved back to the inclusive ones the paste takes)."""
    boxes = outputs['dets'][0][:, :4].astype(np.float64) - np.array(
        [0., 0., 1., 1.])
    return paste_masks_detectron(outputs['mask_probs'][0], boxes,
                                 int(ori_shape[0]), int(ori_shape[1]),
                                 mask_thr)


def to_original_frame(outputs: Dict[str, np.ndarray],
                      info: Dict,
                      mask_thr: float = 0.5,
                      frame: str = 'input') -> Dict[str, np.ndarray]:
    """Graph outputs -> boxes, scores, labels and binary masks in the
    original image, as mmdet's ``predict(..., rescale=True)``.

    Args:
        frame: The frame of the graph's boxes (metadata ``output_frame``):
            ``'input'`` (scaled back by ``info['scale_factor']`` and
            clipped; masks cut to ``img_shape`` and resized) or
            ``'original'`` (kept as they are; ``mask_probs`` pasted with
            :func:`paste_masks_detectron`).

    Returns:
        ``bboxes (N, 4)``, ``scores (N,)``, ``labels (N,)`` and, for mask
        models, ``masks (N, h, w)`` bool.
    """
    if frame not in ('input', 'original'):
        raise ValueError(f"frame must be 'input' or 'original', got "
                         f'{frame!r}')
    dets = outputs['dets'][0]
    if frame == 'original':
        result = dict(
            bboxes=dets[:, :4].copy(),
            scores=dets[:, 4],
            labels=outputs['labels'][0].astype(np.int64))
        if 'mask_probs' in outputs:
            result['masks'] = paste_detectron_outputs(outputs,
                                                      info['ori_shape'],
                                                      mask_thr)
        return result
    w_scale, h_scale = info['scale_factor']
    ori_h, ori_w = info['ori_shape']
    bboxes = dets[:, :4] / np.array([w_scale, h_scale, w_scale, h_scale],
                                    np.float32)
    bboxes[:, 0::2] = bboxes[:, 0::2].clip(0, ori_w)
    bboxes[:, 1::2] = bboxes[:, 1::2].clip(0, ori_h)
    result = dict(
        bboxes=bboxes,
        scores=dets[:, 4],
        labels=outputs['labels'][0].astype(np.int64))
    if 'masks' in outputs:
        img_h, img_w = info['img_shape']
        probs = outputs['masks'][0][:, :img_h, :img_w]
        if (img_h, img_w) != (ori_h, ori_w):
            probs = np.stack([
                cv2.resize(p, (ori_w, ori_h), interpolation=cv2.INTER_LINEAR)
                for p in probs
            ]) if len(probs) else np.zeros((0, ori_h, ori_w), np.float32)
        result['masks'] = probs >= mask_thr
    return result


# ------------------------------------------------------------------ running
class OnnxDetector:
    """An exported detector in ONNX Runtime: image in, mmdet-style result out.

    Args:
        onnx_path: File written by ``tools/deployment/export_onnx.py``.
        providers: ONNX Runtime execution providers (default CPU).
        threads: ``intra_op_num_threads`` (0 = ONNX Runtime's default).
    """

    def __init__(self,
                 onnx_path: str,
                 providers: Optional[List[str]] = None,
                 threads: int = 0) -> None:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            onnx_path,
            options,
            providers=providers or ['CPUExecutionProvider'])
        props = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ValueError(f'{onnx_path} has no {METADATA_KEY!r} metadata:'
                             ' export it with tools/deployment/export_onnx.py')
        self.meta = json.loads(props[METADATA_KEY])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def output_frame(self) -> str:
        """``'input'`` or (``DetectronRoIHead`` models) ``'original'``."""
        return self.meta.get('output_frame', 'input')

    def run(
        self,
        input: np.ndarray,
        img_shape: Optional[Tuple[int, int]] = None,
        ori_shape: Optional[Tuple[int, int]] = None,
        scale_factor: Optional[Tuple[float, float]] = None
    ) -> Dict[str, np.ndarray]:
        """Raw graph outputs for a pre-processed ``(1, 3, H, W)`` input
        holding an ``img_shape`` image (``info['img_shape']`` of
        :func:`preprocess`; default: the whole input).

        ``ori_shape`` and ``scale_factor`` (``info``'s) feed the graphs of
        original-frame models (default: ``img_shape`` and ``(1, 1)``, i.e.
        the input is the original image); other graphs do not take them.
        """
        if img_shape is None:
            img_shape = input.shape[-2:]
        if ori_shape is None:
            ori_shape = img_shape
        if scale_factor is None:
            scale_factor = (1., 1.)
        feeds = dict(
            input=input,
            img_shape=np.asarray(img_shape, np.int64),
            ori_shape=np.asarray(ori_shape, np.int64),
            scale_factor=np.asarray(scale_factor, np.float32))
        values = self.session.run(
            None, {name: feeds[name]
                   for name in self.input_names})
        return dict(zip(self.output_names, values))

    def __call__(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """BGR image -> detections in the image's own frame."""
        input, info = preprocess(image, self.meta)
        outputs = self.run(input, info['img_shape'], info['ori_shape'],
                           info['scale_factor'])
        return to_original_frame(outputs, info,
                                 self.meta.get('mask_thr_binary', 0.5),
                                 self.output_frame)


# ------------------------------------------------------------------ drawing
def draw_detections(image: np.ndarray,
                    result: Dict[str, np.ndarray],
                    classes: List[str],
                    palette: List[Tuple[int, int, int]],
                    score_thr: float = 0.3) -> np.ndarray:
    """Masks (50% tint), boxes and ``class: score`` labels on a BGR copy,
    in the style of mmdet's ``DetLocalVisualizer``. ``palette`` is RGB."""
    canvas = image.copy()
    keep = np.nonzero(result['scores'] >= score_thr)[0]
    for i in keep[::-1]:  # best last, on top
        label = int(result['labels'][i])
        r, g, b = palette[label % len(palette)] if palette else (220, 20, 60)
        color = np.array([b, g, r], np.float32)
        if 'masks' in result:
            m = result['masks'][i]
            canvas[m] = (0.5 * canvas[m] + 0.5 * color).astype(np.uint8)
        x1, y1, x2, y2 = (int(round(v)) for v in result['bboxes'][i])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color.tolist(), 1)
        name = classes[label] if label < len(classes) else str(label)
        text = f'{name}: {result["scores"][i]:.2f}'
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
        y = max(y1, th + 2)
        cv2.rectangle(canvas, (x1, y - th - 2), (x1 + tw + 2, y), (0, 0, 0),
                      -1)
        cv2.putText(canvas, text, (x1 + 1, y - 2), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
