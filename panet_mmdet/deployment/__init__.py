"""Deployment: PANet (and mmdet's two-stage detectors) to ONNX with standard
ops only, run in ONNX Runtime, checked against PyTorch.

Torch side: :mod:`.checks` (what exports), :mod:`.ops` (RoIAlign, NMS as
standard ONNX nodes), :mod:`.detector` (the traceable test-time path, mmdet's
graph contract), :mod:`.detectron_detector` (its subclass for the Detectron
frame), :mod:`.exporter` (loaded detector -> checked ``.onnx``). Torch-free:
:mod:`.runtime` (ONNX Runtime inference, the authors' numpy rules, parity)
and :mod:`.onnx_infer` (its command line). The names below are imported on
first use (PEP 562): ``import panet_mmdet.deployment.runtime`` imports no
torch.
"""
import importlib

_EXPORTS = {
    'UnsupportedModelError': 'checks',
    'check_exportable': 'checks',
    'ExportableTwoStageDetector': 'detector',
    'DetectronFrameDetector': 'detectron_detector',
    'check_standard_onnx': 'exporter',
    'export_onnx': 'exporter',
    'exporter_class': 'exporter',
    'graph_result': 'exporter',
    'torch_predict': 'exporter',
    'ExportableRoIAlign': 'ops',
    'batched_nms_indices': 'ops',
    'OnnxDetector': 'runtime',
    'ParityReport': 'runtime',
    'compare_detections': 'runtime',
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
