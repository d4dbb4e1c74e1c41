"""A two-stage mmdet detector as one traceable module in mmdet's frame.

:class:`ExportableTwoStageDetector` wraps a built (and loaded) mmdet
``TwoStageDetector`` -- PANet, Mask R-CNN, Faster R-CNN -- and re-expresses
its test-time path with ops that export to the standard ONNX domain:

1. backbone and neck, unchanged;
2. RPN: per level the ``nms_pre`` best anchors (``TopK``), delta decoding,
   clipping, the ``min_bbox_size`` filter, NMS per level
   (``NonMaxSuppression``, one batch entry per level), the ``max_per_img``
   best proposals -- mmdet's ``RPNHead.predict_by_feat``;
3. box branch: the model's own ``_bbox_forward`` (so PANet's adaptive
   feature pooling and heavier head run as trained), softmax, class-wise
   decoding and clipping, ``score_thr``, class-wise NMS, ``max_per_img`` --
   mmdet's ``multiclass_nms``;
4. mask branch: the model's own ``_mask_forward`` (adaptive pooling,
   fully-connected fusion) on the detected boxes, the predicted class's
   channel, sigmoid, pasted into the input frame with ``GridSample`` --
   mmdet's ``FCNMaskHead.predict_by_feat`` without thresholding.

RoIAlign layers are replaced by :class:`ExportableRoIAlign` (same
arithmetic in PyTorch, ONNX ``RoiAlign`` or ``GridSample`` in the graph).
The Detectron components (``DetectronRPNHead``, its anchors, the "+1"
coder, ``aligned=False``, NMS ``offset=1``) export with what they compute;
a ``DetectronRoIHead`` has another contract (:mod:`.detectron_detector`).

Graph contract of this class (batch of one image):

- input ``input``: ``(1, 3, H, W)`` float32, the output of the model's
  ``data_preprocessor`` (normalised, channel order converted, padded).
- input ``img_shape``: ``(2, )`` int64, height and width of the image
  inside the padded input (mmdet's ``img_shape``): proposals and detections
  are clipped to it, as mmdet does; ``[H, W]`` when nothing is padded.
- ``dets``: ``(1, N, 5)`` x1, y1, x2, y2, score in the input's pixels,
  boxes clipped to ``img_shape``, sorted by descending score.
- ``labels``: ``(1, N)`` int64 class indices.
- ``masks`` (mask models): ``(1, N, H, W)`` float32 foreground
  probabilities; mmdet binarises them at ``test_cfg.rcnn.mask_thr_binary``.

``N`` is data-dependent, ``0 <= N <= test_cfg.rcnn.max_per_img``.
"""
import copy
import types
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from torch import Tensor

from ..models.dense_heads.detectron_rpn_head import DetectronRPNHead
from ..models.task_modules.coders.detectron_delta_xywh_bbox_coder import \
    DetectronDeltaXYWHBBoxCoder
from .checks import check_exportable
from .ops import (ExportableRoIAlign, arange_like, batched_nms_indices,
                  clip_boxes, shape_hw)


def single_level_forward_traceable(
        extractor: SingleRoIExtractor,
        feats: Tuple[Tensor],
        rois: Tensor,
        roi_scale_factor: Optional[float] = None) -> Tensor:
    """``SingleRoIExtractor.forward`` without its data-dependent branch.

    mmdet pools a level only if some RoI maps to it (``if inds.numel() >
    0``); a trace freezes that test to the example input, so a level that
    no RoI used while tracing would pool nothing ever after. Here every
    level pools every RoI and each RoI keeps its own level's result
    (``torch.where`` on mmdet's ``map_roi_levels``): the same values,
    ``L`` RoIAlign calls instead of one.

    Shapes: ``feats`` L x ``(1, C, H_l, W_l)``, ``rois (n, 5)`` ->
    ``(n, C, out_h, out_w)``.
    """
    rois = rois.type_as(feats[0])
    num_levels = len(feats)
    if num_levels == 1:
        return extractor.roi_layers[0](feats[0], rois)
    target = extractor.map_roi_levels(rois, num_levels).view(-1, 1, 1, 1)
    if roi_scale_factor is not None:
        rois = extractor.roi_rescale(rois, roi_scale_factor)
    out = extractor.roi_layers[0](feats[0], rois)
    for level in range(1, num_levels):
        pooled = extractor.roi_layers[level](feats[level], rois)
        out = torch.where(target == level, pooled, out)
    return out


def paste_masks(masks: Tensor, boxes: Tensor, like: Tensor) -> Tensor:
    """Paste ``(n, 1, M, M)`` masks into the frame of ``like`` (..., H, W).

    Pixel centres are sampled bilinearly from each box's mask (zero outside),
    as mmdet's ``_do_paste_mask``; a zero-width box samples the mask centre.

    Returns:
        ``(n, H, W)``.
    """
    xs = arange_like(like[0, 0, 0, :], 0) + 0.5  # (W,)
    ys = arange_like(like[0, 0, :, 0], 0) + 0.5  # (H,)
    x0, y0, x1, y1 = boxes.unbind(1)
    gx = (xs[None, :] - x0[:, None]) / (x1 - x0)[:, None] * 2 - 1  # (n, W)
    gy = (ys[None, :] - y0[:, None]) / (y1 - y0)[:, None] * 2 - 1  # (n, H)
    gx = torch.where(torch.isinf(gx), torch.zeros_like(gx), gx)
    gy = torch.where(torch.isinf(gy), torch.zeros_like(gy), gy)
    grid = torch.stack([
        gx[:, None, :] + gy[:, :, None] * 0,
        gy[:, :, None] + gx[:, None, :] * 0
    ],
                       dim=3)
    return F.grid_sample(masks, grid, align_corners=False)[:, 0]


def decode_and_clip(coder: nn.Module, boxes: Tensor, deltas: Tensor,
                    height: Tensor, width: Tensor) -> Tensor:
    """``coder.decode(boxes, deltas)`` clipped as the coder clips to
    ``max_shape = (height, width)``, with the bounds as graph tensors.

    mmdet's ``DeltaXYWHBBoxCoder`` clips to ``[0, W] x [0, H]``;
    ``DetectronDeltaXYWHBBoxCoder`` (inclusive corners) to
    ``[0, W - 1] x [0, H - 1]``. ``boxes`` and ``deltas`` have the shapes
    the coder takes.
    """
    out = coder.decode(boxes, deltas)
    if not coder.clip_border:
        return out
    if isinstance(coder, DetectronDeltaXYWHBBoxCoder):
        return clip_boxes(out, height - 1, width - 1)
    return clip_boxes(out, height, width)


def nms_boxes(boxes: Tensor, offset: int) -> Tensor:
    """The boxes to give ``NonMaxSuppression`` for mmcv's NMS ``offset``.

    mmcv's ``offset=1`` measures areas and overlaps as ``x2 - x1 + 1``;
    ``NonMaxSuppression`` has no offset, and moving the far corner by +1
    (``x2 + 1, y2 + 1``) gives it the same widths, hence the same IoU.
    """
    if not offset:
        return boxes
    return torch.cat([boxes[..., :2], boxes[..., 2:] + float(offset)], -1)


class ExportableTwoStageDetector(nn.Module):
    """Test-time path of a two-stage mmdet detector in exportable ops, with
    mmdet's graph contract (module docstring).

    Args:
        model: A built mmdet ``TwoStageDetector`` with its weights loaded;
            a deep copy is wrapped (the original keeps mmcv's RoIAlign).
        roi_align_impl (str): ``'onnx'`` or ``'grid_sample'``
            (see :class:`ExportableRoIAlign`).

    ``forward(input, img_shape)``: ``(1, 3, H, W)``, ``(2, )`` -> ``(dets,
    labels[, masks])``. The class attributes are the contract (graph inputs
    in ``forward``'s order, frame of ``dets``, mask output, runtime paste);
    ``output_names`` names the outputs.
    """
    input_names: Tuple[str, ...] = ('input', 'img_shape')
    output_frame = 'input'
    mask_output = 'masks'
    mask_paste: Optional[str] = None  # the graph pastes the masks

    def __init__(self, model: nn.Module, roi_align_impl: str = 'onnx') -> None:
        super().__init__()
        check_exportable(model)
        model = copy.deepcopy(model).eval()
        roi_head = model.roi_head
        extractors = [roi_head.bbox_roi_extractor]
        if roi_head.with_mask and not roi_head.share_roi_extractor:
            extractors.append(roi_head.mask_roi_extractor)
        for extractor in extractors:
            extractor.roi_layers = nn.ModuleList(
                ExportableRoIAlign.from_mmcv(layer, roi_align_impl)
                for layer in extractor.roi_layers)
            if type(extractor) is SingleRoIExtractor:
                extractor.forward = types.MethodType(
                    single_level_forward_traceable, extractor)
        self.model = model
        self.with_mask = roi_head.with_mask
        # DetectronRPNHead: proposals clipped to img_shape rounded up
        self.rpn_pad_divisor: Optional[int] = (
            model.rpn_head.pad_size_divisor if isinstance(
                model.rpn_head, DetectronRPNHead) else None)
        self.output_names = self.contract(self.with_mask)['outputs']

    @classmethod
    def contract(cls, with_mask: bool) -> Dict:
        """Input and output names, output frame, mask paste: metadata."""
        return dict(
            outputs=['dets', 'labels'] +
            ([cls.mask_output] if with_mask else []),
            inputs=list(cls.input_names),
            output_frame=cls.output_frame,
            mask_paste=cls.mask_paste if with_mask else None)

    def example_inputs(self, input: Tensor) -> Tuple[Tensor, ...]:
        """Trace inputs, ``input`` ``(1, 3, H, W)`` holding a whole image."""
        return input, torch.tensor(input.shape[-2:], dtype=torch.long)

    # ------------------------------------------------------------------ RPN
    def _anchors(self, level: int, score_map: Tensor) -> Tensor:
        """``(h*w*A, 4)`` anchors of one level, in mmdet's (y, x, anchor)
        order, computed from the map's traced size; the base anchors are
        the generator's own (mmdet's or Detectron's)."""
        gen = self.model.rpn_head.prior_generator
        stride_w, stride_h = gen.strides[level]
        base = gen.base_anchors[level].to(score_map)  # (A, 4)
        xs = arange_like(score_map[0, 0, 0, :], 0) * stride_w  # (w,)
        ys = arange_like(score_map[0, 0, :, 0], 0) * stride_h  # (h,)
        sx = xs[None, :] + ys[:, None] * 0  # (h, w)
        sy = ys[:, None] + xs[None, :] * 0
        shifts = torch.stack([sx, sy, sx, sy], dim=-1).reshape(-1, 1, 4)
        return (shifts + base[None]).reshape(-1, 4)

    def _rpn_clip_hw(self, img_hw: Tuple[Tensor,
                                         Tensor]) -> Tuple[Tensor, Tensor]:
        """What the RPN clips to: ``img_shape``, or for ``DetectronRPNHead``
        ``img_shape`` rounded up to its ``pad_size_divisor``
        (``padded_shape``)."""
        if self.rpn_pad_divisor is None:
            return img_hw
        d = float(self.rpn_pad_divisor)
        return tuple(torch.ceil(s / d) * d for s in img_hw)

    def _proposals(self, feats: Tuple[Tensor],
                   img_hw: Tuple[Tensor, Tensor]) -> Tensor:
        """mmdet's ``RPNHead.predict_by_feat`` for one image: ``(n, 4)``."""
        rpn = self.model.rpn_head
        cfg = rpn.test_cfg
        nms_pre = cfg.nms_pre
        min_size = cfg.get('min_bbox_size', -1)
        height, width = self._rpn_clip_hw(img_hw)
        cls_scores, bbox_preds = rpn(feats)
        level_boxes, level_scores = [], []
        for level, (cls, reg) in enumerate(zip(cls_scores, bbox_preds)):
            anchors = self._anchors(level, cls)
            scores = cls[0].permute(1, 2, 0).reshape(-1).sigmoid()
            deltas = reg[0].permute(1, 2, 0).reshape(-1, 4)
            # Pad to nms_pre so that TopK has one k for every input size;
            # padding scores -1 and decodes to empty boxes, and NMS's score
            # threshold below drops it.
            scores = torch.cat([scores, scores.new_full((nms_pre, ), -1.)])
            deltas = torch.cat([deltas, deltas.new_zeros((nms_pre, 4))])
            anchors = torch.cat([anchors, anchors.new_zeros((nms_pre, 4))])
            scores, top = scores.topk(nms_pre)
            boxes = decode_and_clip(rpn.bbox_coder, anchors[top], deltas[top],
                                    height, width)
            if min_size >= 0:
                w = boxes[:, 2] - boxes[:, 0]
                h = boxes[:, 3] - boxes[:, 1]
                scores = torch.where((w > min_size) & (h > min_size), scores,
                                     torch.full_like(scores, -1.))
            level_boxes.append(boxes)
            level_scores.append(scores)
        boxes = torch.stack(level_boxes)  # (L, nms_pre, 4)
        scores = torch.stack(level_scores)  # (L, nms_pre)
        level, index = batched_nms_indices(
            nms_boxes(boxes, cfg.nms.get('offset', 0)), scores,
            cfg.max_per_img, cfg.nms.iou_threshold, -0.5)
        flat = level * nms_pre + index
        kept_scores = scores.reshape(-1)[flat]
        order = kept_scores.argsort(descending=True)[:cfg.max_per_img]
        return boxes.reshape(-1, 4)[flat[order]]

    # ------------------------------------------------------------ RoI head
    @staticmethod
    def _with_dummy_roi(boxes: Tensor) -> Tensor:
        """``(n, 4)`` boxes -> ``(n + 1, 5)`` RoIs of image 0, a dummy RoI
        first: the heads then never see an empty batch (GroupNorm's ONNX
        reshape cannot infer a size from zero elements); callers drop row 0.
        """
        dummy = boxes.new_tensor([[0., 0., 0., 16., 16.]])
        rois = torch.cat([torch.zeros_like(boxes[:, :1]), boxes], dim=1)
        return torch.cat([dummy, rois])

    def _detect(
            self,
            feats: Tuple[Tensor],
            proposals: Tensor,
            img_hw: Tuple[Tensor, Tensor],
            decode_from: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """mmdet's ``BBoxHead.predict_by_feat`` + ``multiclass_nms``.

        ``decode_from``: the boxes the deltas apply to, default the
        proposals (``DetectronRoIHead``: the proposals in the original
        image); ``img_hw`` is the frame they are clipped to.
        """
        roi_head = self.model.roi_head
        head = roi_head.bbox_head
        cfg = roi_head.test_cfg
        rois = self._with_dummy_roi(proposals)
        out = roi_head._bbox_forward(feats, rois)
        cls_score, bbox_pred = out['cls_score'][1:], out['bbox_pred'][1:]
        scores = F.softmax(cls_score, dim=-1)[:, :-1]  # (n, C), no background
        num_classes = head.num_classes
        num_reg = 1 if head.reg_class_agnostic else num_classes
        base = rois[1:, 1:] if decode_from is None else decode_from
        # one (box, deltas) pair per class, as mmdet's BBoxHead decodes
        base = base[:, None, :].expand(-1, num_reg, 4).reshape(-1, 4)
        boxes = decode_and_clip(head.bbox_coder, base,
                                bbox_pred.reshape(-1, 4),
                                *img_hw).reshape(-1, num_reg, 4)
        boxes = boxes.expand(-1, num_classes, 4).transpose(0, 1)  # (C, n, 4)
        scores = scores.t().contiguous()  # (C, n)
        label, index = batched_nms_indices(
            nms_boxes(boxes, cfg.nms.get('offset', 0)), scores,
            cfg.max_per_img, cfg.nms.iou_threshold, cfg.score_thr)
        flat = label * torch._shape_as_tensor(scores)[1] + index
        det_scores = scores.reshape(-1)[flat]
        # mmdet keeps scores > score_thr; do not rely on the runtime's
        # inclusive/exclusive reading of NonMaxSuppression's threshold
        keep = (det_scores > cfg.score_thr).nonzero().squeeze(1)
        flat, det_scores = flat[keep], det_scores[keep]
        order = det_scores.argsort(descending=True)[:cfg.max_per_img]
        flat = flat[order]
        det_boxes = boxes.reshape(-1, 4)[flat]
        return det_boxes, det_scores[order], label[keep][order]

    def _mask_probs(self, feats: Tuple[Tensor], boxes: Tensor,
                    labels: Tensor) -> Tensor:
        """The predicted class's mask probabilities of ``(n, 4)`` boxes in
        the input frame: ``(n + 1, 1, M, M)``, the dummy RoI's first."""
        roi_head = self.model.roi_head
        rois = self._with_dummy_roi(boxes)
        mask_preds = roi_head._mask_forward(feats, rois)['mask_preds']
        size = mask_preds.shape[-2:]
        if roi_head.mask_head.class_agnostic:
            channel = torch.zeros_like(rois[:, 0]).long()
        else:
            channel = torch.cat([labels.new_zeros((1, )), labels])
        index = channel.view(-1, 1, 1, 1).expand(-1, 1, size[0], size[1])
        return mask_preds.gather(1, index).sigmoid()

    def _masks(self, feats: Tuple[Tensor], boxes: Tensor, labels: Tensor,
               input: Tensor) -> Tensor:
        """mmdet's ``FCNMaskHead.predict_by_feat`` before thresholding."""
        probs = self._mask_probs(feats, boxes, labels)
        rois = self._with_dummy_roi(boxes)
        return paste_masks(probs, rois[:, 1:], input)[1:]

    def _features(
        self, input: Tensor, img_shape: Optional[Tensor]
    ) -> Tuple[Tuple[Tensor], Tensor, Tuple[Tensor, Tensor]]:
        """Backbone, neck and RPN: ``(feats, proposals (n, 4), img_hw)``,
        ``img_hw`` the float height and width (default: the input's)."""
        if img_shape is None:
            img_hw = shape_hw(input)
        else:
            img_hw = tuple(img_shape.to(torch.float32).unbind(0))
        feats = self.model.extract_feat(input)
        return feats, self._proposals(feats, img_hw), img_hw

    def forward(self,
                input: Tensor,
                img_shape: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """``input (1, 3, H, W)``, ``img_shape (2, )`` (default ``[H, W]``)
        -> ``dets (1, N, 5)``, ``labels (1, N)``[, ``masks (1, N, H, W)``].
        """
        feats, proposals, img_hw = self._features(input, img_shape)
        boxes, scores, labels = self._detect(feats, proposals, img_hw)
        dets = torch.cat([boxes, scores[:, None]], dim=1)[None]
        if not self.with_mask:
            return dets, labels[None]
        masks = self._masks(feats, boxes, labels, input)
        return dets, labels[None], masks[None]
