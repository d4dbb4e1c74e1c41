"""Pre-processing: mmdet's test pipeline (``Resize`` or the authors'
``DetectronResize``) and ``DetDataPreprocessor`` (channel order,
normalisation, zero padding at the bottom and right) in numpy and OpenCV.
"""
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from .detectron_numpy import detectron_scale


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
