from .config_checks import (check_choice, check_dataset_paths,
                            check_positive_int)
from .config_scope import register_config_scope

__all__ = [
    'check_choice', 'check_dataset_paths', 'check_positive_int',
    'register_config_scope'
]

# `panet_mmdet::` config bases (config_scope.py): every `import panet_mmdet`
# runs this (the package's __init__ imports .utils first).
register_config_scope()
