"""PANet (Path Aggregation Network, CVPR 2018) for MMDetection 3.x.

Importing the package registers its modules into mmdet's and mmengine's
registries (configs do it with ``custom_imports=dict(imports=['panet_mmdet'])``)
and allow-lists mmengine's checkpoint contents for ``torch.load`` so that
``--resume`` works under torch >= 2.6.
"""
from .version import __version__
from .utils import allow_mmengine_checkpoints

from . import datasets  # noqa: F401,E402  (registers DetectronResize)
from . import engine  # noqa: F401,E402  (registers the model wrapper)
from . import models  # noqa: F401,E402  (registers PANet's modules)

allow_mmengine_checkpoints()

__all__ = ['__version__']
