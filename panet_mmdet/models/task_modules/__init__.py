"""Anchor generator and box coder with Detectron's conventions, registered
into mmdet's ``TASK_UTILS`` (used by the configs of converted checkpoints)."""
from .coders import DetectronDeltaXYWHBBoxCoder
from .prior_generators import DetectronAnchorGenerator

__all__ = ['DetectronAnchorGenerator', 'DetectronDeltaXYWHBBoxCoder']
