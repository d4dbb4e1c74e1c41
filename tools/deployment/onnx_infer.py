"""Detect with an exported model in ONNX Runtime (no torch) and draw it.

    python tools/deployment/onnx_infer.py model.onnx image.png --out vis.png \
        [--score-thr 0.3] [--save-pred preds.json] [--config CONFIG]

A thin entry to :mod:`panet_mmdet.deployment.onnx_infer` (its docstring
says what it does; also ``python -m panet_mmdet.deployment.onnx_infer`` and
the ``panet-onnx-infer`` console script), which imports no torch. From a
checkout without an installed panet_mmdet it finds the package beside it.
"""
import os.path as osp
import sys

try:
    from panet_mmdet.deployment.onnx_infer import main
except ModuleNotFoundError as error:  # a checkout, not installed
    if error.name != 'panet_mmdet':
        raise
    sys.path.insert(0,
                    osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
    from panet_mmdet.deployment.onnx_infer import main

if __name__ == '__main__':
    sys.exit(main())
