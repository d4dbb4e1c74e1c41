from .bottom_up_augmented_fpn import BottomUpAugmentedFPN

__all__ = ['BottomUpAugmentedFPN']
