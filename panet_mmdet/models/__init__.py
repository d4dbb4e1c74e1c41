"""PANet's model components, registered into mmdet's ``MODELS``."""
from .necks import BottomUpAugmentedFPN
from .roi_heads import (AdaptiveFeaturePoolingRoIExtractor,
                        FullyConnectedFusionMaskHead)

__all__ = [
    'BottomUpAugmentedFPN', 'AdaptiveFeaturePoolingRoIExtractor',
    'FullyConnectedFusionMaskHead'
]
