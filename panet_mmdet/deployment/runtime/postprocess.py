"""Post-processing: graph outputs -> detections in the original image."""
from typing import Dict

import cv2
import numpy as np

from .detectron_numpy import paste_masks_detectron


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
        if 'mask_probs' in outputs:  # pasted at inclusive far corners
            ori_h, ori_w = (int(s) for s in info['ori_shape'])
            boxes = dets[:, :4].astype(np.float64) - np.array([0, 0, 1, 1.])
            result['masks'] = paste_masks_detectron(outputs['mask_probs'][0],
                                                    boxes, ori_h, ori_w,
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
