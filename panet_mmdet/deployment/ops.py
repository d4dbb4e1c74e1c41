"""Exportable building blocks: RoIAlign and NMS as standard ONNX ops.

Each op runs mmcv's kernel in PyTorch (so the exported module computes
what the trained model computes) and exports as one node of the standard
ONNX domain (``symbolic``), never as an mmcv or mmdeploy custom op:

- :class:`ExportableRoIAlign`: ONNX ``RoiAlign`` (opset 16); mmcv's
  ``aligned=True`` is ``coordinate_transformation_mode='half_pixel'``,
  ``aligned=False`` is ``'output_half_pixel'``. ``impl='grid_sample'``
  instead builds RoIAlign from ``GridSample`` (opset 16) and elementwise ops,
  for runtimes without ``RoiAlign`` (fixed ``sampling_ratio`` only).
- :func:`batched_nms_indices`: ONNX ``NonMaxSuppression`` with one "batch"
  entry per group (RPN level or class), which is exactly mmdet's
  group-wise NMS without its coordinate-offset trick.

The shape helpers (:func:`arange_like`, :func:`shape_hw`) derive ranges and
sizes from tensors rather than Python ints, so graphs exported with dynamic
height and width stay correct for every size.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import roi_align as mmcv_roi_align
from torch import Tensor

from panet_mmdet.utils import check_choice

_ROI_ALIGN_IMPLS = ('onnx', 'grid_sample')


# ---------------------------------------------------------------- shapes
def arange_like(t: Tensor, dim: int) -> Tensor:
    """``arange(t.shape[dim])`` as float, traced as a graph computation.

    ``torch.arange(int)`` freezes the length at export time; a cumulative
    sum over a slice of ``t`` keeps it symbolic.
    """
    index = [0] * t.dim()
    index[dim] = slice(None)
    return torch.ones_like(t[tuple(index)], dtype=torch.float32).cumsum(0) - 1


def shape_hw(t: Tensor) -> Tuple[Tensor, Tensor]:
    """Height and width of ``(..., H, W)`` as float 0-dim tensors."""
    shape = torch._shape_as_tensor(t).to(torch.float32)
    return shape[-2], shape[-1]


def clip_boxes(boxes: Tensor, height: Tensor, width: Tensor) -> Tensor:
    """Clamp ``(..., 4)`` x1, y1, x2, y2 boxes to ``[0, W] x [0, H]``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    zero = torch.zeros_like(height)
    x1 = torch.min(torch.max(x1, zero), width)
    x2 = torch.min(torch.max(x2, zero), width)
    y1 = torch.min(torch.max(y1, zero), height)
    y2 = torch.min(torch.max(y2, zero), height)
    return torch.stack([x1, y1, x2, y2], dim=-1)


# -------------------------------------------------------------- RoIAlign
class _RoiAlignOp(torch.autograd.Function):
    """mmcv's RoIAlign in PyTorch, ONNX ``RoiAlign`` (opset 16) in a graph."""

    @staticmethod
    def forward(ctx, feat: Tensor, boxes: Tensor, batch_indices: Tensor,
                out_h: int, out_w: int, spatial_scale: float,
                sampling_ratio: int, aligned: bool) -> Tensor:
        rois = torch.cat([batch_indices.to(boxes.dtype)[:, None], boxes], 1)
        return mmcv_roi_align(feat, rois, (out_h, out_w), spatial_scale,
                              sampling_ratio, 'avg', aligned)

    @staticmethod
    def symbolic(g, feat, boxes, batch_indices, out_h, out_w, spatial_scale,
                 sampling_ratio, aligned):
        mode = 'half_pixel' if aligned else 'output_half_pixel'
        return g.op(
            'RoiAlign',
            feat,
            boxes,
            batch_indices,
            coordinate_transformation_mode_s=mode,
            mode_s='avg',
            output_height_i=out_h,
            output_width_i=out_w,
            sampling_ratio_i=sampling_ratio,
            spatial_scale_f=spatial_scale)


def _grid_sample_roi_align(feat: Tensor, boxes: Tensor,
                           output_size: Tuple[int, int], spatial_scale: float,
                           sampling_ratio: int, aligned: bool) -> Tensor:
    """RoIAlign from ``grid_sample``: mmcv's sampling rule, standard ops only.

    Every bin averages ``sampling_ratio**2`` bilinear samples; a sample more
    than one pixel outside the map counts as 0, one within clamps to the
    border (mmcv's ``bilinear_interpolate``).

    Args:
        feat: ``(1, C, H, W)`` (one image, as in an exported graph).
        boxes: ``(n, 4)`` x1, y1, x2, y2 in image pixels.

    Returns:
        ``(n, C, out_h, out_w)``.
    """
    if sampling_ratio <= 0:
        raise ValueError('the grid_sample RoIAlign needs a fixed '
                         f'sampling_ratio > 0, got {sampling_ratio} (use '
                         "roi_align_impl='onnx' for adaptive sampling)")
    if feat.shape[0] != 1:
        raise ValueError('the grid_sample RoIAlign pools from one image, got '
                         f'a batch of {feat.shape[0]}')
    out_h, out_w = output_size
    height, width = shape_hw(feat)
    offset = 0.5 if aligned else 0.0
    x1 = boxes[:, 0] * spatial_scale - offset
    y1 = boxes[:, 1] * spatial_scale - offset
    roi_w = boxes[:, 2] * spatial_scale - offset - x1
    roi_h = boxes[:, 3] * spatial_scale - offset - y1
    if not aligned:
        roi_w = roi_w.clamp(min=1.)
        roi_h = roi_h.clamp(min=1.)
    # sample positions inside the RoI, in units of the RoI size
    steps_x = (torch.arange(
        out_w * sampling_ratio, dtype=feat.dtype, device=feat.device) +
               0.5) / (
                   out_w * sampling_ratio)
    steps_y = (torch.arange(
        out_h * sampling_ratio, dtype=feat.dtype, device=feat.device) +
               0.5) / (
                   out_h * sampling_ratio)
    xs = x1[:, None] + roi_w[:, None] * steps_x[None]  # (n, Sw*sr)
    ys = y1[:, None] + roi_h[:, None] * steps_y[None]  # (n, Sh*sr)
    valid = (((ys >= -1.) & (ys <= height))[:, :, None]
             & ((xs >= -1.) & (xs <= width))[:, None, :])  # (n, Hs, Ws)
    grid_x = (xs + 0.5) / width * 2 - 1
    grid_y = (ys + 0.5) / height * 2 - 1
    grid = torch.stack([
        grid_x[:, None, :] + grid_y[:, :, None] * 0,
        grid_y[:, :, None] + grid_x[:, None, :] * 0
    ], -1)
    grid = grid.reshape(1, -1, out_w * sampling_ratio, 2)  # (1, n*Hs, Ws, 2)
    samples = F.grid_sample(
        feat,
        grid,
        mode='bilinear',
        padding_mode='border',
        align_corners=False)
    channels = feat.shape[1]
    samples = samples.reshape(channels, -1, out_h * sampling_ratio,
                              out_w * sampling_ratio)
    samples = samples * valid.to(samples.dtype)[None]
    samples = samples.reshape(channels, -1, out_h, sampling_ratio, out_w,
                              sampling_ratio).mean(dim=(3, 5))
    return samples.permute(1, 0, 2, 3)


class ExportableRoIAlign(nn.Module):
    """Drop-in for mmcv's ``RoIAlign`` module that exports as standard ONNX.

    Args:
        output_size, spatial_scale, sampling_ratio, aligned: as mmcv's
            ``RoIAlign`` (``pool_mode='avg'``).
        impl (str): ``'onnx'`` (one ``RoiAlign`` node) or ``'grid_sample'``.

    Shapes:
        - input: ``(B, C, H, W)`` (``B = 1`` for ``'grid_sample'``).
        - rois: ``(n, 5)`` as ``(batch_index, x1, y1, x2, y2)``.
        - returns: ``(n, C, out_h, out_w)``.
    """

    def __init__(self,
                 output_size,
                 spatial_scale: float,
                 sampling_ratio: int,
                 aligned: bool = True,
                 impl: str = 'onnx') -> None:
        super().__init__()
        check_choice('impl', impl, _ROI_ALIGN_IMPLS)
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(int(s) for s in output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = bool(aligned)
        self.impl = impl

    @classmethod
    def from_mmcv(cls, layer: nn.Module, impl: str = 'onnx'):
        """Copy the settings of an mmcv ``RoIAlign`` (``avg`` mode only)."""
        if getattr(layer, 'pool_mode', 'avg') != 'avg':
            raise ValueError('only RoIAlign with pool_mode="avg" exports, got '
                             f'{layer.pool_mode!r}')
        return cls(layer.output_size, layer.spatial_scale,
                   layer.sampling_ratio, layer.aligned, impl)

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        boxes = rois[:, 1:5]
        if self.impl == 'grid_sample':
            return _grid_sample_roi_align(input, boxes, self.output_size,
                                          self.spatial_scale,
                                          self.sampling_ratio, self.aligned)
        return _RoiAlignOp.apply(input, boxes, rois[:, 0].long(),
                                 self.output_size[0], self.output_size[1],
                                 self.spatial_scale, self.sampling_ratio,
                                 self.aligned)


# ------------------------------------------------------------------- NMS
class _NMSOp(torch.autograd.Function):
    """Group-wise NMS: mmcv's kernel in PyTorch, ONNX
    ``NonMaxSuppression`` in a graph (same output contract)."""

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_per_group: int,
                iou_threshold: float, score_threshold: float) -> Tensor:
        selected = []
        for group in range(boxes.shape[0]):
            keep = (scores[group, 0] > score_threshold).nonzero().squeeze(1)
            if keep.numel() == 0:
                continue
            _, inds = mmcv_nms(boxes[group, keep], scores[group, 0, keep],
                               iou_threshold)
            inds = keep[inds[:max_per_group]]
            sel = inds.new_zeros((inds.numel(), 3))
            sel[:, 0] = group
            sel[:, 2] = inds
            selected.append(sel)
        if not selected:
            return boxes.new_zeros((0, 3), dtype=torch.long)
        return torch.cat(selected)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_group, iou_threshold,
                 score_threshold):

        def const(value, dtype):
            return g.op('Constant', value_t=torch.tensor([value], dtype=dtype))

        return g.op('NonMaxSuppression', boxes, scores,
                    const(max_per_group, torch.long),
                    const(iou_threshold, torch.float32),
                    const(score_threshold, torch.float32))


def batched_nms_indices(boxes: Tensor, scores: Tensor, max_per_group: int,
                        iou_threshold: float,
                        score_threshold: float) -> Tuple[Tensor, Tensor]:
    """NMS inside each group, the groups stacked on the first axis.

    Args:
        boxes: ``(G, n, 4)`` x1, y1, x2, y2.
        scores: ``(G, n)``.
        max_per_group: Keep at most this many boxes per group.
        iou_threshold: Suppress a box whose IoU with a kept, higher-scoring
            box of its group is above this.
        score_threshold: Consider only boxes scoring above this.

    Returns:
        ``(group, index)``: two ``(k,)`` int64 tensors naming the kept
        boxes, each group's in descending score order.
    """
    selected = _NMSOp.apply(boxes, scores[:, None, :], int(max_per_group),
                            float(iou_threshold), float(score_threshold))
    return selected[:, 0], selected[:, 2]
