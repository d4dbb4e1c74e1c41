from .bbox_heads import FCNormConvFCBBoxHead
from .detectron_roi_head import DetectronRoIHead, paste_masks_detectron
from .mask_heads import FullyConnectedFusionMaskHead
from .roi_extractors import AdaptiveFeaturePoolingRoIExtractor

__all__ = [
    'AdaptiveFeaturePoolingRoIExtractor', 'DetectronRoIHead',
    'FCNormConvFCBBoxHead', 'FullyConnectedFusionMaskHead',
    'paste_masks_detectron'
]
