"""RoI head that post-processes detections as the PANet authors' test does."""
from typing import List, Tuple

import cv2
import numpy as np
import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.utils import empty_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import ConfigType, InstanceList
from torch import Tensor


def paste_masks_detectron(mask_probs: np.ndarray, boxes: np.ndarray,
                          img_h: int, img_w: int,
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


def _scale_tensor(meta: dict, like: Tensor) -> Tensor:
    sw, sh = meta['scale_factor']
    return like.new_tensor([sw, sh, sw, sh])


@MODELS.register_module()
class DetectronRoIHead(StandardRoIHead):
    """``StandardRoIHead`` with the PANet authors' test-time post-processing.

    Training is ``StandardRoIHead``'s. At test time
    (``PANet:lib/core/test.py im_detect_bbox``, ``im_detect_mask``,
    ``segm_results``):

    1. box deltas are applied to the proposals *in the original image*
       (``rois / im_scale``) and boxes clipped to it (with +1 pixel
       conventions, decoding at another scale is not equivalent), and
       per-class NMS runs there; mmdet decodes and, for mask models, runs NMS
       in the resized image;
    2. mask RoIs are the final boxes times the image scale;
    3. masks are pasted with :func:`paste_masks_detectron`;
    4. boxes are returned with exclusive far corners (``x2 + 1, y2 + 1``):
       the authors' COCO json has ``w = x2 - x1 + 1``
       (``datasets/json_dataset_evaluator.py``), mmdet's
       ``w = x2 - x1``, so this keeps the evaluated boxes the same.

    Use it with a bbox coder that decodes with Detectron's convention
    (:class:`~panet_mmdet.models.task_modules.DetectronDeltaXYWHBBoxCoder`)
    and ``test_cfg.rcnn.nms.offset=1``. Predictions are in the original
    image; ``rescale=False`` is supported for box-only models (boxes are
    then multiplied by the scale factor) and refused for mask models.
    """

    def predict(self,
                x: Tuple[Tensor],
                rpn_results_list: InstanceList,
                batch_data_samples: SampleList,
                rescale: bool = False) -> InstanceList:
        if not rescale and self.with_mask:
            raise ValueError(
                'DetectronRoIHead pastes masks in the original image as the '
                'authors do; predict with rescale=True')
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        results_list = self.predict_bbox(
            x, batch_img_metas, rpn_results_list, self.test_cfg,
            rescale=True)
        if self.with_mask:
            results_list = self.predict_mask(x, batch_img_metas,
                                             results_list, rescale=True)
        for results, meta in zip(results_list, batch_img_metas):
            bboxes = results.bboxes.clone()
            bboxes[:, 2:] += 1.
            if not rescale:
                bboxes = bboxes * _scale_tensor(meta, bboxes)
            results.bboxes = bboxes
        return results_list

    def predict_bbox(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     rpn_results_list: InstanceList,
                     rcnn_test_cfg: ConfigType,
                     rescale: bool = True) -> InstanceList:
        """Boxes (inclusive corners) in the original image, whatever
        ``rescale`` says (:meth:`predict` converts)."""
        proposals = [res.bboxes for res in rpn_results_list]
        rois = bbox2roi(proposals)
        if rois.shape[0] == 0:
            return empty_instances(
                batch_img_metas, rois.device, task_type='bbox',
                box_type=self.bbox_head.predict_box_type,
                num_classes=self.bbox_head.num_classes,
                score_per_cls=rcnn_test_cfg is None)
        bbox_results = self._bbox_forward(x, rois)
        per_img = tuple(len(p) for p in proposals)
        rois = rois.split(per_img, 0)
        cls_scores = bbox_results['cls_score'].split(per_img, 0)
        bbox_preds = bbox_results['bbox_pred'].split(per_img, 0)
        original_rois, original_metas = [], []
        for r, meta in zip(rois, batch_img_metas):
            r = r.clone()
            r[:, 1:] = r[:, 1:] / _scale_tensor(meta, r)[None]
            original_rois.append(r)
            original_metas.append(
                dict(meta, img_shape=tuple(meta['ori_shape'][:2]),
                     scale_factor=(1., 1.)))
        return self.bbox_head.predict_by_feat(
            rois=tuple(original_rois), cls_scores=cls_scores,
            bbox_preds=bbox_preds, batch_img_metas=original_metas,
            rcnn_test_cfg=rcnn_test_cfg, rescale=True)

    def predict_mask(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     results_list: InstanceList,
                     rescale: bool = True) -> InstanceList:
        """Masks for boxes in the original image (inclusive corners)."""
        threshold = self.test_cfg.mask_thr_binary
        bboxes = [(res.bboxes * _scale_tensor(meta, res.bboxes)).float()
                  for res, meta in zip(results_list, batch_img_metas)]
        mask_rois = bbox2roi(bboxes)
        if mask_rois.shape[0] == 0:
            return empty_instances(
                batch_img_metas, mask_rois.device, task_type='mask',
                instance_results=results_list, mask_thr_binary=threshold)
        mask_preds = self._mask_forward(x, mask_rois)['mask_preds']
        mask_preds = mask_preds.split([len(r) for r in results_list], 0)
        for results, preds, meta in zip(results_list, mask_preds,
                                        batch_img_metas):
            probs = preds.sigmoid()
            if probs.shape[1] > 1:
                probs = probs[torch.arange(len(probs)), results.labels]
            else:
                probs = probs[:, 0]
            img_h, img_w = meta['ori_shape'][:2]
            masks = paste_masks_detectron(
                probs.detach().cpu().numpy(),
                results.bboxes.detach().cpu().numpy(), img_h, img_w,
                threshold)
            results.masks = torch.from_numpy(masks).to(probs.device)
        return results_list
