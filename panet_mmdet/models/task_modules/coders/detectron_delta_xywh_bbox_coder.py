"""Detectron's box regression (``utils/boxes.py``), exactly."""
import math
from typing import Optional, Sequence, Union

import torch
from mmdet.models.task_modules.coders.base_bbox_coder import BaseBBoxCoder
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import HorizontalBoxes, get_box_tensor
from torch import Tensor


@TASK_UTILS.register_module()
class DetectronDeltaXYWHBBoxCoder(BaseBBoxCoder):
    r"""Box deltas with Detectron's inclusive ("+1") pixel convention.

    ``PANet:lib/utils/boxes.py bbox_transform`` (decode) and
    ``bbox_transform_inv`` (encode), with ``w = x_2 - x_1 + 1``:

    .. math::

        c_x = x_1 + \tfrac12 w, \quad
        c'_x = c_x + w\,d_x, \quad w' = w\,e^{\min(d_w,\ \log(1/r))},\quad
        x'_1 = c'_x - \tfrac12 w', \quad x'_2 = c'_x + \tfrac12 w' - 1,

    and the same for :math:`y`; boxes are clipped to ``[0, W - 1]`` and
    ``[0, H - 1]`` (``clip_tiled_boxes``). Deltas are normalised as in
    mmdet, ``d = \delta \cdot std + mean``: Detectron's weights
    ``(10, 10, 5, 5)`` are ``target_stds=(0.1, 0.1, 0.2, 0.2)``.

    mmdet's ``LegacyDeltaXYWHBBoxCoder`` computes ``x'_1 = c'_x - (w' - 1)/2``
    (half a pixel off, on purpose, see its source) and also clamps
    :math:`d_w` from below; Detectron clamps from above only.

    Args:
        target_means, target_stds (Sequence[float]): delta normalisation.
        wh_ratio_clip (float): ``r``; Detectron's ``BBOX_XFORM_CLIP`` is
            ``log(1000 / 16)``, i.e. ``r = 16 / 1000``.
        clip_border (bool): clip decoded boxes to ``max_shape``.
    """
    encode_size = 4

    def __init__(self,
                 target_means: Sequence[float] = (0., 0., 0., 0.),
                 target_stds: Sequence[float] = (0.1, 0.1, 0.2, 0.2),
                 wh_ratio_clip: float = 16 / 1000,
                 clip_border: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError('target_means and target_stds must have 4 '
                             f'entries, got {target_means!r}, {target_stds!r}')
        if not 0 < wh_ratio_clip < 1:
            raise ValueError(
                f'wh_ratio_clip must be in (0, 1), got {wh_ratio_clip!r}')
        self.means = tuple(float(m) for m in target_means)
        self.stds = tuple(float(s) for s in target_stds)
        self.wh_ratio_clip = wh_ratio_clip
        self.clip_border = clip_border

    @staticmethod
    def _xywh(boxes: Tensor):
        w = boxes[..., 2] - boxes[..., 0] + 1.
        h = boxes[..., 3] - boxes[..., 1] + 1.
        return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h

    def encode(self, bboxes: Union[Tensor, HorizontalBoxes],
               gt_bboxes: Union[Tensor, HorizontalBoxes]) -> Tensor:
        """``(..., 4)`` boxes and targets -> ``(..., 4)`` normalised deltas
        (``bbox_transform_inv``)."""
        bboxes, gt_bboxes = get_box_tensor(bboxes), get_box_tensor(gt_bboxes)
        if bboxes.shape != gt_bboxes.shape:
            raise ValueError(f'bboxes {tuple(bboxes.shape)} and gt_bboxes '
                             f'{tuple(gt_bboxes.shape)} must have one shape')
        ex, ey, ew, eh = self._xywh(bboxes)
        gx, gy, gw, gh = self._xywh(gt_bboxes)
        deltas = torch.stack([(gx - ex) / ew, (gy - ey) / eh,
                              torch.log(gw / ew),
                              torch.log(gh / eh)],
                             dim=-1)
        means, stds = deltas.new_tensor(self.means), deltas.new_tensor(
            self.stds)
        return (deltas - means) / stds

    def decode(
        self,
        bboxes: Union[Tensor, HorizontalBoxes],
        pred_bboxes: Tensor,
        max_shape: Optional[Sequence[int]] = None,
        wh_ratio_clip: Optional[float] = None
    ) -> Union[Tensor, HorizontalBoxes]:
        """Apply ``(..., 4)`` normalised deltas to ``(..., 4)`` boxes.

        Args:
            bboxes: boxes ``x1, y1, x2, y2`` (inclusive corners).
            pred_bboxes: deltas, same shape.
            max_shape: ``(H, W)`` (or ``(H, W, C)``) to clip to.
            wh_ratio_clip: overrides the instance's clip.

        Returns:
            Decoded boxes, the shape of ``pred_bboxes``.
        """
        bboxes = get_box_tensor(bboxes)
        if pred_bboxes.shape[-1] != 4 or bboxes.shape[-1] != 4:
            raise ValueError('bboxes and pred_bboxes must end in 4, got '
                             f'{tuple(bboxes.shape)}, '
                             f'{tuple(pred_bboxes.shape)}')
        # in the wider of the two dtypes, as mmdet's coder: fp16/bf16 deltas
        # (AMP) on fp32 boxes would otherwise round boxes 1000 px from the
        # origin to 0.5-8 px
        dtype = torch.promote_types(bboxes.dtype, pred_bboxes.dtype)
        bboxes, pred_bboxes = bboxes.to(dtype), pred_bboxes.to(dtype)
        d = pred_bboxes * pred_bboxes.new_tensor(self.stds) + \
            pred_bboxes.new_tensor(self.means)
        clip = math.log(1. / (wh_ratio_clip or self.wh_ratio_clip))
        cx, cy, w, h = self._xywh(bboxes)
        pcx = d[..., 0] * w + cx
        pcy = d[..., 1] * h + cy
        pw = torch.exp(d[..., 2].clamp(max=clip)) * w
        ph = torch.exp(d[..., 3].clamp(max=clip)) * h
        out = torch.stack([
            pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw - 1.,
            pcy + 0.5 * ph - 1.
        ],
                          dim=-1)
        if max_shape is not None and self.clip_border:
            if isinstance(max_shape,
                          Tensor) or not isinstance(max_shape[0],
                                                    (int, float)):
                raise ValueError('max_shape must be one (H, W) for all boxes,'
                                 f' got {max_shape!r}')
            height, width = max_shape[:2]
            out[..., 0::2] = out[..., 0::2].clamp(min=0, max=width - 1)
            out[..., 1::2] = out[..., 1::2].clamp(min=0, max=height - 1)
        if self.use_box_type:
            out = HorizontalBoxes(out)
        return out
