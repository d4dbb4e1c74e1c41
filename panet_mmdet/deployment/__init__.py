"""Deployment: PANet (and mmdet's two-stage detectors) to ONNX with standard
ops only, run in ONNX Runtime, checked against PyTorch.

- :mod:`.ops`: RoIAlign and NMS that export as standard ONNX nodes.
- :mod:`.detector`: the test-time path as one traceable module.
- :mod:`.exporter`: config + checkpoint -> checked ``.onnx`` with metadata.
- :mod:`.runtime`: ONNX Runtime inference with numpy/OpenCV only.
- :mod:`.parity`: one-to-one comparison of two detectors' outputs.
"""
from .detector import (ExportableTwoStageDetector, UnsupportedModelError,
                       check_exportable)
from .exporter import (check_standard_onnx, export_onnx, graph_result,
                       load_detector, torch_predict)
from .ops import ExportableRoIAlign, batched_nms_indices
from .parity import ParityReport, compare_detections
from .runtime import OnnxDetector, preprocess, to_original_frame

__all__ = [
    'ExportableTwoStageDetector', 'UnsupportedModelError', 'check_exportable',
    'check_standard_onnx', 'export_onnx', 'graph_result', 'load_detector',
    'torch_predict', 'ExportableRoIAlign', 'batched_nms_indices',
    'ParityReport', 'compare_detections', 'OnnxDetector', 'preprocess',
    'to_original_frame'
]
