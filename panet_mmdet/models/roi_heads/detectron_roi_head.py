"""RoI head that post-processes detections as the PANet authors' test does."""
from typing import List, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.utils import empty_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import ConfigType, InstanceList
from torch import Tensor

from ...deployment.runtime.detectron_numpy import paste_masks_detectron


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
            x, batch_img_metas, rpn_results_list, self.test_cfg, rescale=True)
        if self.with_mask:
            results_list = self.predict_mask(
                x, batch_img_metas, results_list, rescale=True)
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
                batch_img_metas,
                rois.device,
                task_type='bbox',
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
                dict(
                    meta,
                    img_shape=tuple(meta['ori_shape'][:2]),
                    scale_factor=(1., 1.)))
        return self.bbox_head.predict_by_feat(
            rois=tuple(original_rois),
            cls_scores=cls_scores,
            bbox_preds=bbox_preds,
            batch_img_metas=original_metas,
            rcnn_test_cfg=rcnn_test_cfg,
            rescale=True)

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
                batch_img_metas,
                mask_rois.device,
                task_type='mask',
                instance_results=results_list,
                mask_thr_binary=threshold)
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
            # float32 for numpy (AMP gives fp16/bf16 probabilities). The
            # masks go back to the boxes' device although the metric copies
            # them off again: InstanceData indexes all its fields with one
            # index (``pred[pred.scores > t]``), which needs one device
            masks = paste_masks_detectron(
                probs.detach().float().cpu().numpy(),
                results.bboxes.detach().float().cpu().numpy(), img_h, img_w,
                threshold)
            results.masks = torch.from_numpy(masks).to(probs.device)
        return results_list
