"""The ``panet_mmdet`` registry scope, as downstream OpenMMLab packages
(mmyolo, mmrotate) have theirs.

mmengine tags every dict of a config read through a ``panet_mmdet::`` base
with ``_scope_='panet_mmdet'``, and builds it in the registry of that scope:
:meth:`mmengine.registry.Registry.switch_scope_and_registry` imports this
module and searches the root registry's tree for it. Without it, the
datasets, transforms, metrics and hooks of an inherited config would be
looked up in mmengine's root registries, which do not hold mmdet's
(``KeyError: 'CocoDataset is not in the mmengine::dataset registry'``).

Every registry of :mod:`mmdet.registry` has a child here, under the scope
``panet_mmdet``. A child finds what its parent holds, so a lookup in this
scope finds mmdet's modules and mmengine's (our hooks and model wrapper are
registered in mmengine's root registries; our models, transforms and task
modules in mmdet's): this package registers nothing here of its own, and
stock mmdet configs that import ``panet_mmdet`` through ``custom_imports``
keep finding our modules under the scope ``mmdet``. A child's locations are
imported at its first lookup: ours, then its parent's, so that mmdet's
modules are registered whichever of its modules a process has imported.
They must not be empty: for a registry without locations whose scope is in
mmengine's ``MODULE2PACKAGE`` (``panet_mmdet`` is, for ``panet_mmdet::``
configs) mmengine calls ``panet_mmdet.utils.register_all_modules``, which
does not exist.
"""
from mmdet import registry as mmdet_registry
from mmengine.registry import Registry

SCOPE = 'panet_mmdet'


def _child(parent: Registry, *locations: str) -> Registry:
    """A registry of ``parent``'s name under the ``panet_mmdet`` scope."""
    return Registry(
        parent.name,
        parent=parent,
        scope=SCOPE,
        locations=[*locations, *parent._locations])


# the engine
RUNNERS = _child(mmdet_registry.RUNNERS)
RUNNER_CONSTRUCTORS = _child(mmdet_registry.RUNNER_CONSTRUCTORS)
LOOPS = _child(mmdet_registry.LOOPS)
HOOKS = _child(mmdet_registry.HOOKS, 'panet_mmdet.engine')

# data
DATASETS = _child(mmdet_registry.DATASETS)
DATA_SAMPLERS = _child(mmdet_registry.DATA_SAMPLERS)
TRANSFORMS = _child(mmdet_registry.TRANSFORMS, 'panet_mmdet.datasets')

# models and what builds them
MODELS = _child(mmdet_registry.MODELS, 'panet_mmdet.models')
MODEL_WRAPPERS = _child(mmdet_registry.MODEL_WRAPPERS, 'panet_mmdet.engine')
WEIGHT_INITIALIZERS = _child(mmdet_registry.WEIGHT_INITIALIZERS)
TASK_UTILS = _child(mmdet_registry.TASK_UTILS, 'panet_mmdet.models')

# optimisation and evaluation
OPTIMIZERS = _child(mmdet_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child(mmdet_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(mmdet_registry.PARAM_SCHEDULERS)
METRICS = _child(mmdet_registry.METRICS)
EVALUATOR = _child(mmdet_registry.EVALUATOR)

# visualisation and logs
VISUALIZERS = _child(mmdet_registry.VISUALIZERS)
VISBACKENDS = _child(mmdet_registry.VISBACKENDS)
LOG_PROCESSORS = _child(mmdet_registry.LOG_PROCESSORS)
