"""Data transforms, registered into mmdet's ``TRANSFORMS``."""
from .transforms import DetectronResize

__all__ = ['DetectronResize']
