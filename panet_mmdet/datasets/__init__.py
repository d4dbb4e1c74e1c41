from .shapes_generator import (CLASSES, generate_shapes_dataset,
                               size_bucket)

__all__ = ['CLASSES', 'generate_shapes_dataset', 'size_bucket']
