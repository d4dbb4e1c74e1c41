"""Detect with an exported model in ONNX Runtime (no torch) and draw it.

    python tools/deployment/onnx_infer.py model.onnx image.png --out vis.png \
        [--score-thr 0.3] [--save-pred preds.json] [--config CONFIG]

A thin entry to :mod:`panet_mmdet.deployment.onnx_infer` (its docstring
says what it does; also ``python -m panet_mmdet.deployment.onnx_infer`` and
the ``panet-onnx-infer`` console script), which imports no torch. Needs the
package installed (``pip install -e .``, or ``--no-deps`` beside
onnxruntime, numpy and OpenCV).
"""
import sys

from panet_mmdet.deployment.onnx_infer import main

if __name__ == '__main__':
    sys.exit(main())
