from .detectron_rpn_head import DetectronRPNHead

__all__ = ['DetectronRPNHead']
