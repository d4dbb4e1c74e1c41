from .loss_averaging_hook import DistributedLossAveragingHook
from .random_state_hook import RandomStateCheckpointHook

__all__ = ['DistributedLossAveragingHook', 'RandomStateCheckpointHook']
