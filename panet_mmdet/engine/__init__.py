from .cpu_distributed import (DeviceAgnosticDistributedDataParallel,
                              setup_cpu_distributed)
from .hooks import DistributedLossAveragingHook, RandomStateCheckpointHook

__all__ = [
    'DeviceAgnosticDistributedDataParallel', 'setup_cpu_distributed',
    'DistributedLossAveragingHook', 'RandomStateCheckpointHook'
]
