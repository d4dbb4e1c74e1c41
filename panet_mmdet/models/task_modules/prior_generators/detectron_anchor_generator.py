"""Detectron's anchors (``generate_anchors.py``), exactly."""
from typing import List, Sequence

import torch
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.registry import TASK_UTILS
from torch import Tensor


def detectron_base_anchors(stride: int, size: float,
                           ratios: Sequence[float]) -> Tensor:
    """Base anchors of one level, ``(len(ratios), 4)`` as ``x1, y1, x2, y2``.

    ``PANet:lib/modeling/generate_anchors.py``: the reference window is
    ``[0, 0, stride - 1, stride - 1]``; ``_ratio_enum`` keeps its area and
    centre, with ``ws = round(sqrt(stride**2 / r))``, ``hs = round(ws * r)``
    (``r = h / w``, rounded half to even *before* scaling); ``_scale_enum``
    multiplies both by ``size / stride``; corners are inclusive,
    ``ctr -+ (w - 1) / 2``. mmdet's ``LegacyAnchorGenerator`` rounds after
    scaling, so its ratio-0.5 and ratio-2 anchors differ by 1-3 px.
    """
    ratios = torch.as_tensor(ratios, dtype=torch.float64)
    ctr = (stride - 1) / 2.
    ws = torch.round(torch.sqrt(stride * stride / ratios))
    hs = torch.round(ws * ratios)
    scale = size / stride
    ws, hs = ws * scale, hs * scale
    return torch.stack([
        ctr - 0.5 * (ws - 1), ctr - 0.5 * (hs - 1), ctr + 0.5 *
        (ws - 1), ctr + 0.5 * (hs - 1)
    ],
                       dim=1)


@TASK_UTILS.register_module()
class DetectronAnchorGenerator(AnchorGenerator):
    """Anchors as the PANet authors' Detectron code generates them.

    One anchor size per level (``FPN.RPN_ANCHOR_START_SIZE * 2**(l - 2)``)
    and the same aspect ratios on every level; base anchors from
    :func:`detectron_base_anchors`, shifted by ``arange(W) * stride``
    (``generate_proposals.py``), in mmdet's order (location-major, then
    ratio), which is also Detectron's.

    Args:
        strides (Sequence[int]): one per level, e.g. ``[4, 8, 16, 32, 64]``.
        ratios (Sequence[float]): ``h / w`` ratios, e.g. ``[0.5, 1., 2.]``.
        sizes (Sequence[float]): the anchor size (square root of the area)
            per level, e.g. ``[32, 64, 128, 256, 512]``.

    Example:
        >>> gen = DetectronAnchorGenerator([4], [0.5, 1., 2.], [32])
        >>> for anchor in gen.base_anchors[0].tolist():
        ...     print(anchor)
        [-22.0, -10.0, 25.0, 13.0]
        [-14.0, -14.0, 17.0, 17.0]
        [-10.0, -22.0, 13.0, 25.0]
    """

    def __init__(self,
                 strides: Sequence[int],
                 ratios: Sequence[float],
                 sizes: Sequence[float],
                 use_box_type: bool = False) -> None:
        if len(sizes) != len(strides):
            raise ValueError(f'sizes must have one entry per level of strides '
                             f'{list(strides)}, got {list(sizes)}')
        for s in strides:
            if isinstance(s, (list, tuple)):
                raise ValueError('strides must be ints (Detectron anchors are '
                                 f'square-strided), got {list(strides)}')
        if not ratios or any(r <= 0 for r in ratios):
            raise ValueError(f'ratios must be positive, got {list(ratios)}')
        super().__init__(
            strides=list(strides),
            ratios=list(ratios),
            base_sizes=list(sizes),
            scales=[1.],
            use_box_type=use_box_type)

    def gen_base_anchors(self) -> List[Tensor]:
        return [
            detectron_base_anchors(stride[0], size,
                                   self.ratios.tolist()).to(torch.float32)
            for stride, size in zip(self.strides, self.base_sizes)
        ]
