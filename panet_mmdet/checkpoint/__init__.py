"""Checkpoints: reading mmengine's under torch's ``weights_only`` loader
(:mod:`.allowlist`), refusing weights that do not fit a model (:mod:`.fit`),
writing atomically (:mod:`.atomic`), finding the checkpoint to resume from
(:mod:`.resume`) and converting the PANet authors' released weights
(:mod:`.official`).

Loading a detector goes through :mod:`panet_mmdet.apis`, which uses these.
"""
from .allowlist import allow_mmengine_checkpoints
from .atomic import write_atomically
from .fit import (PARTIAL_FLAG, CheckpointMismatchError, check_checkpoint_fits,
                  checkpoint_state_dict, fit_summary)
from .resume import (checkpoint_is_intact, find_resumable_checkpoint,
                     restart_count, resume_plan)

__all__ = [
    'allow_mmengine_checkpoints', 'write_atomically',
    'CheckpointMismatchError', 'check_checkpoint_fits',
    'checkpoint_state_dict', 'fit_summary', 'PARTIAL_FLAG',
    'checkpoint_is_intact', 'find_resumable_checkpoint', 'restart_count',
    'resume_plan'
]
