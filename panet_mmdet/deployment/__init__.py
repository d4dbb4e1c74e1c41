"""Deployment: PANet (and mmdet's two-stage detectors) to ONNX with standard
ops only, run in ONNX Runtime, checked against PyTorch.

- :mod:`.ops`: RoIAlign and NMS that export as standard ONNX nodes.
- :mod:`.detector`: the test-time path as one traceable module.
- :mod:`.exporter`: a loaded detector (:func:`panet_mmdet.apis.load_detector`)
  -> checked ``.onnx`` with metadata.
- :mod:`.runtime`: ONNX Runtime inference with numpy/OpenCV only.
- :mod:`.onnx_infer`: the command line of ``tools/deployment/onnx_infer.py``
  (``python -m panet_mmdet.deployment.onnx_infer``), torch-free.
- :mod:`.parity`: one-to-one comparison of two detectors' outputs.

The names below are imported from their modules on first use (PEP 562), so
that ``import panet_mmdet.deployment.runtime`` does not import torch: the
runtime runs where only onnxruntime, numpy and OpenCV are installed.
"""
import importlib

_EXPORTS = {
    'ExportableTwoStageDetector': 'detector',
    'UnsupportedModelError': 'detector',
    'check_exportable': 'detector',
    'check_standard_onnx': 'exporter',
    'export_onnx': 'exporter',
    'graph_result': 'exporter',
    'torch_predict': 'exporter',
    'ExportableRoIAlign': 'ops',
    'batched_nms_indices': 'ops',
    'ParityReport': 'parity',
    'compare_detections': 'parity',
    'OnnxDetector': 'runtime',
    'preprocess': 'runtime',
    'to_original_frame': 'runtime',
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'.{module}', __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
