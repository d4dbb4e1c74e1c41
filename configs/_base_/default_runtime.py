# mmdet's default runtime (logging, visualisation, hooks) with crash-safe
# checkpoints: AtomicCheckpointHook writes to a temporary file, renames it
# into place and removes old checkpoints only after the new one is complete
# (panet_mmdet/engine/hooks/atomic_checkpoint_hook.py; configs using it import
# panet_mmdet through custom_imports).
_base_ = 'mmdet::_base_/default_runtime.py'
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
