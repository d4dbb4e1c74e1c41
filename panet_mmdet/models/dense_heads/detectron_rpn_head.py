"""RPN head that clips proposals as Detectron does (to the padded blob)."""
import math

from mmdet.models.dense_heads import RPNHead
from mmdet.registry import MODELS


@MODELS.register_module()
class DetectronRPNHead(RPNHead):
    """``RPNHead`` whose test-time proposals are clipped to the image size
    rounded up to ``pad_size_divisor``, as in the PANet authors' code.

    ``PANet:lib/utils/blob.py get_image_blob`` sets ``im_info`` to the
    *padded* blob's height and width (a comment there says so and keeps it
    for reproducibility), and ``generate_proposals.py`` clips proposals to
    ``[0, im_info - 1]``. mmdet clips to the unpadded ``img_shape``. The
    padded size is computed per image, ``ceil(h / d) * d``, so it does not
    depend on the other images of a batch. Everything else is ``RPNHead``.

    Args:
        pad_size_divisor (int): the blob padding, ``FPN.COARSEST_STRIDE``
            (32). Defaults to 32.
        **kwargs: ``RPNHead`` arguments.
    """

    def __init__(self, *args, pad_size_divisor: int = 32, **kwargs) -> None:
        if isinstance(pad_size_divisor, bool) or not isinstance(
                pad_size_divisor, int) or pad_size_divisor < 1:
            raise ValueError('pad_size_divisor must be an int >= 1, got '
                             f'{pad_size_divisor!r}')
        super().__init__(*args, **kwargs)
        self.pad_size_divisor = pad_size_divisor

    def padded_shape(self, img_shape) -> tuple:
        """``(H, W)`` rounded up to a multiple of ``pad_size_divisor``."""
        d = self.pad_size_divisor
        return tuple(int(math.ceil(s / d) * d) for s in img_shape[:2])

    def _predict_by_feat_single(self,
                                cls_score_list,
                                bbox_pred_list,
                                score_factor_list,
                                mlvl_priors,
                                img_meta,
                                cfg,
                                rescale=False,
                                with_nms=True):
        img_meta = dict(
            img_meta, img_shape=self.padded_shape(img_meta['img_shape']))
        return super()._predict_by_feat_single(
            cls_score_list,
            bbox_pred_list,
            score_factor_list,
            mlvl_priors,
            img_meta,
            cfg,
            rescale=rescale,
            with_nms=with_nms)
