from .fc_norm_bbox_head import FCNormConvFCBBoxHead

__all__ = ['FCNormConvFCBBoxHead']
