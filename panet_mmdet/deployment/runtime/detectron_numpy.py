"""The PANet authors' test-time resize scale and mask pasting, numpy/OpenCV.

One definition for three users: ``DetectronResize``
(:mod:`panet_mmdet.datasets.transforms.detectron_resize`),
``DetectronRoIHead`` (:mod:`panet_mmdet.models.roi_heads.detectron_roi_head`)
and the torch-free ONNX Runtime code (this package). numpy and OpenCV
only, so the runtime stays importable without torch, mmcv or mmdet.
"""
import cv2
import numpy as np

__all__ = ['detectron_scale', 'paste_masks_detectron']


def detectron_scale(height: int, width: int, target_size: int,
                    max_size: int) -> float:
    """``im_scale`` of ``PANet:lib/utils/blob.py get_target_scale``: the
    short side to ``target_size`` unless the long side, rounded, would
    exceed ``max_size``; then the long side to ``max_size``."""
    short, long = min(height, width), max(height, width)
    scale = float(target_size) / float(short)
    if np.round(scale * long) > max_size:
        scale = float(max_size) / float(long)
    return scale


def paste_masks_detectron(mask_probs: np.ndarray,
                          boxes: np.ndarray,
                          img_h: int,
                          img_w: int,
                          threshold: float = 0.5) -> np.ndarray:
    """Paste ``M x M`` mask probabilities into the image as the authors do.

    ``PANet:lib/core/test.py segm_results``: each box (inclusive corners) is
    expanded by ``(M + 2) / M`` about its centre (``utils/boxes.py
    expand_boxes``) and truncated to int32; the mask, zero-padded by one
    pixel to ``(M + 2) x (M + 2)``, is resized to the box's ``w x h =
    x2 - x1 + 1, y2 - y1 + 1`` pixels with ``cv2.resize`` (bilinear),
    binarised with ``> threshold`` and placed at the box, cut to the image.
    mmdet's ``FCNMaskHead`` instead samples the mask on the continuous box
    with ``grid_sample`` and thresholds with ``>=``.

    Args:
        mask_probs: ``(n, M, M)`` float probabilities.
        boxes: ``(n, 4)`` inclusive boxes in the output image.
        img_h, img_w: output image size.
        threshold: binarisation threshold (``MRCNN.THRESH_BINARIZE``).

    Returns:
        ``(n, img_h, img_w)`` bool masks.
    """
    n, m = mask_probs.shape[0], mask_probs.shape[-1]
    out = np.zeros((n, img_h, img_w), dtype=bool)
    if n == 0:
        return out
    scale = (m + 2.0) / m
    boxes = np.asarray(boxes, dtype=np.float64)
    w_half = (boxes[:, 2] - boxes[:, 0]) * .5 * scale
    h_half = (boxes[:, 3] - boxes[:, 1]) * .5 * scale
    x_c = (boxes[:, 2] + boxes[:, 0]) * .5
    y_c = (boxes[:, 3] + boxes[:, 1]) * .5
    ref = np.stack([x_c - w_half, y_c - h_half, x_c + w_half, y_c + h_half],
                   axis=1).astype(np.int32)
    padded = np.zeros((m + 2, m + 2), dtype=np.float32)
    for i in range(n):
        padded[1:-1, 1:-1] = mask_probs[i]
        x0, y0, x1, y1 = (int(v) for v in ref[i])
        w, h = max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)
        mask = cv2.resize(padded, (w, h)) > threshold
        xa, xb = max(x0, 0), min(x1 + 1, img_w)
        ya, yb = max(y0, 0), min(y1 + 1, img_h)
        if xa < xb and ya < yb:
            out[i, ya:yb, xa:xb] = mask[ya - y0:yb - y0, xa - x0:xb - x0]
    return out
