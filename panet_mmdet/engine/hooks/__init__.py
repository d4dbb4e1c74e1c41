from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from .loss_averaging_hook import DistributedLossAveragingHook
from .progress_estimate_hook import ProgressEstimateHook
from .random_state_hook import RandomStateCheckpointHook

__all__ = [
    'AtomicCheckpointHook', 'DistributedLossAveragingHook',
    'ProgressEstimateHook', 'RandomStateCheckpointHook', 'AtomicLocalBackend'
]
