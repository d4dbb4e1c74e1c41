"""An exported detector in ONNX Runtime (imported when one is built)."""
import json
from typing import Dict, List, Optional, Tuple

import numpy as np

from .postprocess import to_original_frame
from .preprocess import preprocess

METADATA_KEY = 'panet_mmdet'  # the exporter's JSON record in the .onnx file


class OnnxDetector:
    """An exported detector in ONNX Runtime: image in, mmdet-style result out.

    Args:
        onnx_path: File written by ``tools/deployment/export_onnx.py``.
        providers: ONNX Runtime execution providers, in order of preference
            (default CPU), e.g. ``['CUDAExecutionProvider',
            'CPUExecutionProvider']`` (with the ``onnxruntime-gpu``
            package). A provider this ONNX Runtime lacks, or one that
            fails to load (CUDA libraries missing), raises instead of
            falling back to the CPU in silence.
        threads: ``intra_op_num_threads`` (0 = ONNX Runtime's default).
    """

    def __init__(self,
                 onnx_path: str,
                 providers: Optional[List[str]] = None,
                 threads: int = 0) -> None:
        import onnxruntime as ort
        providers = list(providers or ['CPUExecutionProvider'])
        available = ort.get_available_providers()
        missing = [p for p in providers if p not in available]
        if missing:
            hint = (' (CUDAExecutionProvider comes with the onnxruntime-gpu '
                    'package instead of onnxruntime)'
                    if 'CUDAExecutionProvider' in missing else '')
            raise ValueError(f'providers {missing} are not in this ONNX '
                             f'Runtime {ort.__version__}, which has '
                             f'{available}{hint}')
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            onnx_path, options, providers=providers)
        lost = [p for p in providers if p not in self.session.get_providers()]
        if lost:
            raise RuntimeError(
                f'ONNX Runtime could not start {lost} (it would have run on '
                f'{self.session.get_providers()}); its log above says why, '
                'often a CUDA or cuDNN library it cannot find')
        props = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ValueError(f'{onnx_path} has no {METADATA_KEY!r} metadata:'
                             ' export it with tools/deployment/export_onnx.py')
        self.meta = json.loads(props[METADATA_KEY])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def output_frame(self) -> str:
        """``'input'`` or (``DetectronRoIHead`` models) ``'original'``."""
        return self.meta.get('output_frame', 'input')

    def run(
        self,
        input: np.ndarray,
        img_shape: Optional[Tuple[int, int]] = None,
        ori_shape: Optional[Tuple[int, int]] = None,
        scale_factor: Optional[Tuple[float, float]] = None
    ) -> Dict[str, np.ndarray]:
        """Raw graph outputs for a pre-processed ``(1, 3, H, W)`` input
        holding an ``img_shape`` image (``info['img_shape']`` of
        :func:`preprocess`; default: the whole input).

        ``ori_shape`` and ``scale_factor`` (``info``'s) feed the graphs of
        original-frame models (default: ``img_shape`` and ``(1, 1)``, i.e.
        the input is the original image); other graphs do not take them.
        """
        if img_shape is None:
            img_shape = input.shape[-2:]
        if ori_shape is None:
            ori_shape = img_shape
        if scale_factor is None:
            scale_factor = (1., 1.)
        feeds = dict(
            input=input,
            img_shape=np.asarray(img_shape, np.int64),
            ori_shape=np.asarray(ori_shape, np.int64),
            scale_factor=np.asarray(scale_factor, np.float32))
        values = self.session.run(
            None, {name: feeds[name]
                   for name in self.input_names})
        return dict(zip(self.output_names, values))

    def __call__(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """BGR image -> detections in the image's own frame."""
        input, info = preprocess(image, self.meta)
        outputs = self.run(input, info['img_shape'], info['ori_shape'],
                           info['scale_factor'])
        return to_original_frame(outputs, info,
                                 self.meta.get('mask_thr_binary', 0.5),
                                 self.output_frame)
