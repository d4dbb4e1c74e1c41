from .cpu_distributed import (DeviceAgnosticDistributedDataParallel,
                              exit_without_teardown, leave_distributed,
                              setup_cpu_distributed, stop_child_processes,
                              torchrun_env_from_slurm)
from .hooks import (AtomicCheckpointHook, DistributedLossAveragingHook,
                    RandomStateCheckpointHook)

__all__ = [
    'DeviceAgnosticDistributedDataParallel', 'exit_without_teardown',
    'leave_distributed', 'setup_cpu_distributed', 'stop_child_processes',
    'torchrun_env_from_slurm', 'DistributedLossAveragingHook',
    'RandomStateCheckpointHook', 'AtomicCheckpointHook'
]
