"""What ``import panet_mmdet`` does to a process, and what it does not.

It registers the modules and leaves torch's ``weights_only`` allow-list as
it was; the allow-list is set by the tools, by the checkpoint hooks when a
run starts and by the opt-in ``panet_mmdet.engine.torch_load_allowlist``.
Where torch cannot be imported, the torch-free parts still import. Each
check runs in a fresh interpreter: pytest's own process has long imported
everything.
"""
import os
import subprocess
import sys
import textwrap

from conftest import ROOT

ALLOW_LIST = r'''
import io
import pickle

import torch
# what panet_mmdet imports, so that torch's own lazy allow-list entries
# (torch.distributed.tensor's) are in place before the baseline
import mmdet.datasets, mmdet.engine, mmdet.models, mmengine.runner  # noqa
from mmengine.logging import HistoryBuffer, MessageHub

def entries():
    return list(torch.serialization.get_safe_globals())

def loads(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    try:
        torch.load(buf)  # weights_only=True, torch's default
    except pickle.UnpicklingError:
        return False
    return True

hub = MessageHub.get_instance('import_scope')
hub.update_scalar('train/loss', 0.5)
state = dict(message_hub=hub.state_dict())
assert not loads(state)
before = entries()

import panet_mmdet
from mmdet.registry import MODELS, TRANSFORMS
from mmengine.registry import HOOKS, MODEL_WRAPPERS
assert entries() == before, [e for e in entries() if e not in before]
assert not loads(state)
for registry, name in ((MODELS, 'BottomUpAugmentedFPN'),
                       (MODELS, 'DetectronRoIHead'),
                       (TRANSFORMS, 'DetectronResize'),
                       (HOOKS, 'AtomicCheckpointHook'),
                       (HOOKS, 'RandomStateCheckpointHook'),
                       (MODEL_WRAPPERS, 'DeviceAgnosticDistributedDataParallel')):
    assert registry.get(name) is not None, name

import panet_mmdet.engine.torch_load_allowlist  # noqa: F401  (opt-in)
assert HistoryBuffer in entries() and loads(state)

from panet_mmdet.engine import AtomicCheckpointHook, RandomStateCheckpointHook
for hook in (AtomicCheckpointHook(interval=1), RandomStateCheckpointHook()):
    torch.serialization.clear_safe_globals()
    assert not loads(state)
    hook.before_run(None)  # mmengine calls it before it loads or resumes
    assert loads(state), type(hook).__name__
print('ALLOW-LIST OK')
'''

TORCH_FREE = r'''
import sys
import panet_mmdet
from panet_mmdet.deployment import OnnxDetector, compare_detections
from panet_mmdet.deployment import onnx_infer, runtime  # noqa: F401
heavy = sorted(m for m in sys.modules
               if m.split('.')[0] in ('torch', 'mmcv', 'mmdet', 'mmengine'))
assert not heavy, heavy
try:
    from panet_mmdet.deployment import export_onnx  # noqa: F401
except ImportError as e:
    assert 'torch must not be imported' in str(e), e
else:
    raise AssertionError('export_onnx imported without torch')
print('TORCH-FREE OK')
'''


def _python(code, env=None):
    full_env = dict(os.environ, PYTHONPATH=ROOT)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    return proc.stdout


def test_import_registers_but_leaves_the_allow_list():
    assert 'ALLOW-LIST OK' in _python(ALLOW_LIST)


def test_runtime_imports_without_torch(tmp_path):
    """torch present but not importable (a package that raises), as on a
    machine without it: the runtime, the ONNX CLI and the parity check
    import; ``import panet_mmdet`` does not fail; the exporter does."""
    fake = tmp_path / 'torch'
    fake.mkdir()
    (fake / '__init__.py'
     ).write_text('raise ImportError("torch must not be imported")\n')
    out = _python(
        TORCH_FREE, env={'PYTHONPATH': os.pathsep.join([str(tmp_path), ROOT])})
    assert 'TORCH-FREE OK' in out


def test_one_definition_of_the_authors_numpy_rules():
    """The runtime, DetectronResize and DetectronRoIHead use the same
    functions (panet_mmdet/deployment/runtime/detectron_numpy.py), so the
    ONNX path's resize and paste cannot drift from the models'."""
    from panet_mmdet.datasets.transforms import detectron_resize
    from panet_mmdet.deployment import runtime
    from panet_mmdet.deployment.runtime import detectron_numpy
    from panet_mmdet.models.roi_heads import (detectron_roi_head,
                                              paste_masks_detectron)
    assert (runtime.paste_masks_detectron is paste_masks_detectron is
            detectron_roi_head.paste_masks_detectron is
            detectron_numpy.paste_masks_detectron)
    assert (runtime.detectron_scale is detectron_resize.detectron_scale is
            detectron_numpy.detectron_scale)
