# mmdet's default runtime (logging, visualisation, hooks) with crash-safe
# checkpoints: AtomicCheckpointHook writes to a temporary file, renames it
# into place and removes old checkpoints only after the new one is complete
# (panet_mmdet/engine/hooks/atomic_checkpoint_hook.py; configs using it import
# panet_mmdet through custom_imports). When a run starts, the hook also
# allow-lists mmengine's checkpoint contents for torch.load(weights_only=True),
# so `--resume` works under torch >= 2.6 with mmdet's own tools/train.py too.
# (No custom_imports here: the model bases set it, and mmengine refuses a key
# that two bases both set.)
_base_ = 'mmdet::_base_/default_runtime.py'
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
