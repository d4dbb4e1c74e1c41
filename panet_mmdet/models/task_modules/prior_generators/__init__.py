from .detectron_anchor_generator import (DetectronAnchorGenerator,
                                         detectron_base_anchors)

__all__ = ['DetectronAnchorGenerator', 'detectron_base_anchors']
