"""PANet's model components, registered into mmdet's ``MODELS`` (and
``TASK_UTILS``); the ``Detectron*`` ones reproduce the authors' test-time
computation for their converted checkpoints."""
from .dense_heads import DetectronRPNHead
from .necks import BottomUpAugmentedFPN
from .roi_heads import (AdaptiveFeaturePoolingRoIExtractor, DetectronRoIHead,
                        FCNormConvFCBBoxHead, FullyConnectedFusionMaskHead)
from .task_modules import DetectronAnchorGenerator, DetectronDeltaXYWHBBoxCoder

__all__ = [
    'BottomUpAugmentedFPN', 'AdaptiveFeaturePoolingRoIExtractor',
    'FullyConnectedFusionMaskHead', 'DetectronAnchorGenerator',
    'DetectronDeltaXYWHBBoxCoder', 'DetectronRPNHead', 'DetectronRoIHead',
    'FCNormConvFCBBoxHead'
]
