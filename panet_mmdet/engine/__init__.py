from .device_agnostic_ddp import DeviceAgnosticDistributedDataParallel
from .hooks import DistributedLossAveragingHook, RandomStateCheckpointHook

__all__ = [
    'DeviceAgnosticDistributedDataParallel', 'DistributedLossAveragingHook',
    'RandomStateCheckpointHook'
]
