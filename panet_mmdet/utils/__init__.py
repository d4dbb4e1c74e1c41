from .checkpoint_compat import allow_mmengine_checkpoints, mmengine_safe_globals
from .config_checks import check_dataset_paths
from .dist import setup_cpu_distributed

__all__ = [
    'allow_mmengine_checkpoints', 'mmengine_safe_globals',
    'check_dataset_paths', 'setup_cpu_distributed'
]
