"""Import this module to let ``torch.load`` read mmengine checkpoints.

Importing it calls :func:`panet_mmdet.utils.allow_mmengine_checkpoints`:
mmengine's checkpoint contents (``HistoryBuffer``, numpy arrays and scalars)
join torch's ``weights_only`` allow-list, for the whole process, so that
``Runner.resume`` and ``load_from`` work under torch >= 2.6 with mmengine
0.10 (which calls ``torch.load`` with torch's default, ``weights_only=True``).

``import panet_mmdet`` does not do this. Our tools call the function
themselves, and ``AtomicCheckpointHook`` / ``RandomStateCheckpointHook`` do
when a run starts, so configs with those hooks need nothing more. Other
configs run with mmdet's own ``tools/train.py --resume`` (or ``test.py``)
add this module to their imports::

    custom_imports = dict(imports=['panet_mmdet',
                                   'panet_mmdet.engine.torch_load_allowlist'],
                          allow_failed_imports=False)
"""
from ..checkpoint import allow_mmengine_checkpoints

allow_mmengine_checkpoints()
