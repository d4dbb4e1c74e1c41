"""PANet (Path Aggregation Network, CVPR 2018) for MMDetection 3.x.

Importing the package registers its modules into mmdet's and mmengine's
registries (configs do it with
``custom_imports=dict(imports=['panet_mmdet'])``) and the ``panet_mmdet::``
config scope, and changes nothing else in the process. In particular it
leaves torch's ``weights_only`` allow-list alone: the tools call
:func:`panet_mmdet.utils.allow_mmengine_checkpoints`, the checkpoint hooks
do when a run starts, and other configs can import
:mod:`panet_mmdet.engine.torch_load_allowlist`.

Where torch or mmdet cannot be imported (a deployment machine with only
onnxruntime, numpy and OpenCV) there is nothing to register and nothing
that could use the registries; the torch-free parts still import:
:mod:`panet_mmdet.deployment.runtime` (ONNX Runtime, the authors' numpy
rules, parity checks) and :mod:`panet_mmdet.deployment.onnx_infer`.
"""
from .version import __version__


def _training_stack_importable() -> bool:
    """Whether torch and mmdet import. In any process that uses mmdet's or
    mmengine's registries they already have, so this is False only where
    registering would serve nothing: without torch (absent or unusable; the
    torch-free runtime must still import), or with torch but no mmdet. An
    mmdet that is installed but fails (a broken mmcv) raises its error."""
    try:  # torch first: importing mmdet imports mmcv and mmengine
        import torch  # noqa: F401
    except ImportError:
        return False
    try:
        import mmdet  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != 'mmdet':
            raise
        return False
    return True


if _training_stack_importable():
    from . import datasets  # noqa: F401  (registers DetectronResize)
    from . import engine  # noqa: F401  (registers the hooks, model wrapper)
    from . import models  # noqa: F401  (registers PANet's modules)
    from . import utils  # noqa: F401  (the panet_mmdet:: config scope)

__all__ = ['__version__']
