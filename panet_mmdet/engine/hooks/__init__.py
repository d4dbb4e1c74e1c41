from .random_state_hook import RandomStateCheckpointHook

__all__ = ['RandomStateCheckpointHook']
