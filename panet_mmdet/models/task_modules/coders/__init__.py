from .detectron_delta_xywh_bbox_coder import DetectronDeltaXYWHBBoxCoder

__all__ = ['DetectronDeltaXYWHBBoxCoder']
