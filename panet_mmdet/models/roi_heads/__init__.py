from .mask_heads import FullyConnectedFusionMaskHead
from .roi_extractors import AdaptiveFeaturePoolingRoIExtractor

__all__ = ['AdaptiveFeaturePoolingRoIExtractor', 'FullyConnectedFusionMaskHead']
