"""Detect with an exported model in ONNX Runtime (no torch) and draw it.

    python tools/deployment/onnx_infer.py model.onnx image.png --out vis.png \
        [--score-thr 0.3] [--save-pred preds.json] [--config CONFIG]

The code is :mod:`panet_mmdet.deployment.onnx_infer` (also ``python -m
panet_mmdet.deployment.onnx_infer``), which imports no torch: onnxruntime,
numpy, OpenCV and panet_mmdet (``pip install --no-deps``, or this checkout)
are all it needs.

Pre-processing (the config's test resize, normalisation, padding), class
names and palette come from the metadata that tools/deployment/export_onnx.py
stored in the file; ``--config`` only replaces names and palette (and needs
mmengine). Boxes and masks are mapped back to the image's own frame.
``--save-pred`` writes labels, scores, boxes and (where pycocotools is
installed) COCO-RLE masks, the layout of ``tools/infer.py --save-pred``;
``tools/deployment/compare_predictions.py`` compares the two files.
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
