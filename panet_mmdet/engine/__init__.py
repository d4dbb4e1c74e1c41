from .device_agnostic_ddp import DeviceAgnosticDistributedDataParallel
from .hooks import RandomStateCheckpointHook

__all__ = [
    'DeviceAgnosticDistributedDataParallel', 'RandomStateCheckpointHook'
]
