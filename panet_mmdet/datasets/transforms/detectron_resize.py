"""The authors' test-time (and multi-scale training) resize, exactly."""
import random
from typing import Sequence, Union

import cv2
import mmcv
import numpy as np
from mmdet.datasets.transforms import Resize
from mmdet.registry import TRANSFORMS

from ...deployment.runtime.detectron_numpy import detectron_scale


@TRANSFORMS.register_module()
class DetectronResize(Resize):
    """Resize as the PANet authors' Detectron.pytorch code does.

    ``PANet:lib/utils/blob.py prep_im_for_blob``: one scale ``s`` for both
    axes (:func:`detectron_scale`), and ``cv2.resize(img.astype(float32),
    None, fx=s, fy=s, interpolation=INTER_LINEAR)``: the output size is
    OpenCV's rounding of ``s * size`` and the sampling grid uses ``s``
    itself. mmdet's ``Resize(keep_ratio=True)`` differs in three small
    ways: it resizes the ``uint8`` image (rounding every pixel), computes
    the size as ``int(s * size + 0.5)`` and passes it to OpenCV (so the grid
    uses ``size_out / size_in``), and records per-axis scale factors.

    The image is converted to float32 (as the authors do); the pixel mean is
    subtracted later by the data preprocessor (resizing is linear, so the
    order only changes float rounding). ``scale_factor`` is ``(s, s)``.
    Boxes are scaled by ``s``; masks and segmentation maps are resized to
    the new image size.

    Args:
        scales (int | Sequence[int]): target short side(s). With several,
            one is drawn uniformly per image (``TRAIN.SCALES``; repeat an
            entry to weight it, as the authors' ``(1200, 1200, 1000, ...)``).
        max_size (int): cap on the long side (``MAX_SIZE``).
        clip_object_border (bool): as in ``Resize``.

    Example:
        >>> import numpy as np
        >>> t = DetectronResize(scales=1000, max_size=1400)
        >>> out = t(dict(img=np.zeros((480, 640, 3), np.uint8)))
        >>> out['img'].shape, out['img'].dtype
        ((1000, 1333, 3), dtype('float32'))
        >>> out['scale_factor']
        (2.0833333333333335, 2.0833333333333335)
    """

    def __init__(self,
                 scales: Union[int, Sequence[int]] = 1000,
                 max_size: int = 1400,
                 clip_object_border: bool = True) -> None:
        scales = [scales] if not isinstance(scales,
                                            (list, tuple)) else list(scales)
        if not scales or not all(
                isinstance(s, int) and not isinstance(s, bool) and s > 0
                for s in scales):
            raise ValueError('scales must be a positive int or a non-empty '
                             f'sequence of them, got {scales!r}')
        if isinstance(max_size,
                      bool) or not isinstance(max_size, int) or max_size <= 0:
            raise ValueError(f'max_size must be a positive int, got '
                             f'{max_size!r}')
        super().__init__(
            scale=(max_size, max(scales)),
            keep_ratio=True,
            clip_object_border=clip_object_border)
        self.scales = scales
        self.max_size = max_size

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        target = self.scales[0] if len(self.scales) == 1 else random.choice(
            self.scales)
        s = detectron_scale(h, w, target, self.max_size)
        img = cv2.resize(
            img.astype(np.float32, copy=False),
            None,
            None,
            fx=s,
            fy=s,
            interpolation=cv2.INTER_LINEAR)
        new_h, new_w = img.shape[:2]
        results['img'] = img
        results['img_shape'] = (new_h, new_w)
        results['scale'] = (new_w, new_h)
        results['scale_factor'] = (s, s)
        results['keep_ratio'] = True
        self._resize_bboxes(results)
        if results.get('gt_masks', None) is not None:
            results['gt_masks'] = results['gt_masks'].resize((new_h, new_w))
        if results.get('gt_seg_map', None) is not None:
            results['gt_seg_map'] = mmcv.imresize(
                results['gt_seg_map'], (new_w, new_h),
                interpolation='nearest',
                backend=self.backend)
        self._record_homography_matrix(results)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scales={self.scales}, '
                f'max_size={self.max_size}, '
                f'clip_object_border={self.clip_object_border})')
