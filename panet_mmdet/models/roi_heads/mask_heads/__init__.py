from .fully_connected_fusion_mask_head import FullyConnectedFusionMaskHead

__all__ = ['FullyConnectedFusionMaskHead']
