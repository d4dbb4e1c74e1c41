from .adaptive_feature_pooling import AdaptiveFeaturePoolingRoIExtractor

__all__ = ['AdaptiveFeaturePoolingRoIExtractor']
