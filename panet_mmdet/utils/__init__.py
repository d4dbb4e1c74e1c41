from .checkpoint_compat import allow_mmengine_checkpoints
from .config_checks import check_choice, check_dataset_paths, check_positive_int

__all__ = [
    'allow_mmengine_checkpoints', 'check_choice', 'check_dataset_paths',
    'check_positive_int'
]
