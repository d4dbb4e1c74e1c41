from .detectron_resize import DetectronResize, detectron_scale

__all__ = ['DetectronResize', 'detectron_scale']
