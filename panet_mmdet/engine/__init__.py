from .cpu_distributed import (DeviceAgnosticDistributedDataParallel,
                              collective_timeout_s, exit_without_teardown,
                              leave_distributed, setup_cpu_distributed,
                              stop_child_processes, torchrun_env_from_slurm)
from .heartbeat import RankHeartbeat, describe_ranks, kill_frozen_local_ranks
from .hooks import (AtomicCheckpointHook, DistributedLossAveragingHook,
                    RandomStateCheckpointHook)
from .preemption import StopSignal, TrainingStopped, requeue_slurm_job

__all__ = [
    'DeviceAgnosticDistributedDataParallel', 'exit_without_teardown',
    'leave_distributed', 'setup_cpu_distributed', 'stop_child_processes',
    'torchrun_env_from_slurm', 'DistributedLossAveragingHook',
    'RandomStateCheckpointHook', 'AtomicCheckpointHook',
    'collective_timeout_s', 'RankHeartbeat', 'describe_ranks',
    'kill_frozen_local_ranks', 'StopSignal', 'TrainingStopped',
    'requeue_slurm_job'
]
