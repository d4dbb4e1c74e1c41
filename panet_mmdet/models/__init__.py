"""PANet's model components, registered into mmdet's ``MODELS``."""
from .necks import BottomUpAugmentedFPN

__all__ = ['BottomUpAugmentedFPN']
