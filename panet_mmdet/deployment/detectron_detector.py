"""The Detectron frame: the graph contract of models with a
``DetectronRoIHead`` (converted from the authors' checkpoints), which
decodes the box deltas in the *original* image (``proposals /
scale_factor``), clips and runs NMS there, pools the masks at ``boxes *
scale_factor`` and returns boxes with exclusive far corners:

- inputs ``input`` and ``img_shape`` as mmdet's, plus ``ori_shape``:
  ``(2, )`` int64, the original image's height and width, and
  ``scale_factor``: ``(2, )`` float32, ``(w_scale, h_scale)`` from the
  original image to the input (``DetectronResize`` gives ``(s, s)``);
- ``dets``: ``(1, N, 5)`` in the *original* image's pixels, ``x1, y1`` and
  exclusive ``x2 + 1, y2 + 1`` as ``DetectronRoIHead.predict`` returns them
  (``x2, y2`` clipped to ``ori_shape - 1`` before the +1), and ``labels``;
- ``mask_probs`` (mask models, instead of ``masks``): ``(1, N, M, M)``
  float32, the predicted class's mask probabilities (``M = 28``), pasted
  after the graph by the function ``DetectronRoIHead`` calls
  (:func:`panet_mmdet.deployment.runtime.paste_masks_detectron`).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from .detector import ExportableTwoStageDetector


class DetectronFrameDetector(ExportableTwoStageDetector):
    """:class:`ExportableTwoStageDetector` with the Detectron frame's
    contract (module docstring)."""
    input_names = ('input', 'img_shape', 'ori_shape', 'scale_factor')
    output_frame = 'original'
    mask_output = 'mask_probs'
    mask_paste = 'detectron'

    def example_inputs(self, input: Tensor) -> Tuple[Tensor, ...]:
        """Traced as if the input were the original image: ``ori_shape`` =
        ``img_shape``, ``scale_factor`` 1."""
        input, img_shape = super().example_inputs(input)
        return input, img_shape, img_shape.clone(), torch.ones(
            2, dtype=torch.float32)

    def forward(self,
                input: Tensor,
                img_shape: Optional[Tensor] = None,
                ori_shape: Optional[Tensor] = None,
                scale_factor: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """``input (1, 3, H, W)``, ``img_shape (2, )`` (default ``[H, W]``),
        ``ori_shape (2, )`` (default ``img_shape``), ``scale_factor (2, )``
        (default ``(1, 1)``) -> ``dets (1, N, 5)``, ``labels (1, N)``[,
        ``mask_probs (1, N, M, M)``] in the original image:
        ``DetectronRoIHead.predict``, with decoding, clipping and NMS in the
        original image and the mask RoIs at ``boxes * scale_factor``."""
        feats, proposals, img_hw = self._features(input, img_shape)
        ori_hw = img_hw if ori_shape is None else tuple(
            ori_shape.to(torch.float32).unbind(0))
        if scale_factor is None:
            scale_factor = torch.ones_like(input[0, :2, 0, 0])
        scale = scale_factor.to(torch.float32).reshape(2)
        scale = torch.cat([scale, scale])  # w, h, w, h as _scale_tensor
        boxes, scores, labels = self._detect(
            feats, proposals, ori_hw, decode_from=proposals / scale[None])
        far = boxes[:, 2:] + 1.
        dets = torch.cat([boxes[:, :2], far, scores[:, None]], dim=1)[None]
        if not self.with_mask:
            return dets, labels[None]
        probs = self._mask_probs(feats, boxes * scale[None], labels)
        return dets, labels[None], probs[1:, 0][None]
