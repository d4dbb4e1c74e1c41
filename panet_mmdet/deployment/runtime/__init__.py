"""The torch-free side of deployment: an exported detector in ONNX Runtime
with numpy and OpenCV, and the PANet authors' numpy rules.

Nothing here imports torch, mmcv, mmdet or mmengine (``onnxruntime`` only
when an :class:`OnnxDetector` is built): with ``onnxruntime``, ``numpy``,
``opencv-python`` and ``pip install --no-deps panet_mmdet``, a machine runs
``OnnxDetector('panet.onnx')(cv2.imread('img.png'))`` or ``python -m
panet_mmdet.deployment.onnx_infer``. What pre- and post-processing need
(mean, std, test resize, padding, classes, the graph's inputs and the frame
of its outputs) is in the file's metadata (key ``panet_mmdet``).

- :mod:`.detectron_numpy`: the authors' test-time resize scale and mask
  paste, also used by ``DetectronResize`` and ``DetectronRoIHead``.
- :mod:`.preprocess`: BGR image -> graph ``input`` and metainfo.
- :mod:`.postprocess`: graph outputs -> detections in the original image.
- :mod:`.onnx_detector`: :class:`OnnxDetector`, image in, detections out.
- :mod:`.visualization`: :func:`draw_detections`.
- :mod:`.parity`: one-to-one comparison of two detectors' outputs.
"""
from .detectron_numpy import detectron_scale, paste_masks_detectron
from .onnx_detector import METADATA_KEY, OnnxDetector
from .parity import ParityReport, box_iou, compare_detections, mask_iou
from .postprocess import to_original_frame
from .preprocess import preprocess
from .visualization import draw_detections

__all__ = [
    'METADATA_KEY', 'OnnxDetector', 'ParityReport', 'box_iou',
    'compare_detections', 'detectron_scale', 'draw_detections', 'mask_iou',
    'paste_masks_detectron', 'preprocess', 'to_original_frame'
]
