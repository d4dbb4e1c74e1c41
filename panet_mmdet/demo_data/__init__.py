"""The embedded demo data: a synthetic COCO-format instance-segmentation set.

Not a Dataset class: the files it writes are read by mmdet's own
``CocoDataset`` and scored by its ``CocoMetric``.
"""
from .shapes import (BACKGROUNDS, CLASSES, MASK_FORMATS,
                     generate_shapes_dataset, size_bucket)

__all__ = [
    'BACKGROUNDS', 'CLASSES', 'MASK_FORMATS', 'generate_shapes_dataset',
    'size_bucket'
]
