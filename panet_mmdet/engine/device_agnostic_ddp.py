"""A DDP wrapper that also works on CPU (gloo), for mmengine's Runner.

mmengine 0.10.x's ``Runner.wrap_model`` always passes
``device_ids=[LOCAL_RANK]`` to the wrapper, which ``DistributedDataParallel``
rejects for a module on the CPU. This wrapper drops ``device_ids`` whenever
the module's parameters are not on a CUDA device and behaves exactly like
mmengine's ``MMDistributedDataParallel`` otherwise. ``tools/train.py`` selects
it automatically for distributed runs without CUDA; select it yourself with::

    model_wrapper_cfg = dict(type='DeviceAgnosticDistributedDataParallel')
"""
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that accepts CPU modules.

    Args:
        module (nn.Module): The model to wrap.
        device_ids (Sequence[int], optional): CUDA devices, as in DDP. Ignored
            (set to None) when the module's parameters are on the CPU.
        **kwargs: Other ``MMDistributedDataParallel`` arguments.
    """

    def __init__(self,
                 module: nn.Module,
                 device_ids: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        param = next(module.parameters(), None)
        if param is None or param.device.type != 'cuda':
            device_ids = None
        kwargs.setdefault('broadcast_buffers', False)
        super().__init__(module=module, device_ids=device_ids, **kwargs)
