r"""Inference latency: ONNX Runtime vs PyTorch, same input.

ONNX Runtime (exported graph) vs PyTorch. For each config, the model is
loaded once (checkpoint, or random weights), exported with both RoIAlign
implementations (the ONNX ``RoiAlign`` op and the GridSample construction),
and then mmdet's own ``predict`` and the two ONNX Runtime sessions run on the
same pre-processed input, interleaved after warm-up; medians and ratios
against PyTorch are printed, with the number of detections each produced
(they must agree: same model, same input).

    # docs/deploy.md's numbers (CPU; --threads 0: all cores)
    python tools/benchmark.py onnx \
        configs/demo/panet_r18_bufpn-gn_demo.py --shape 256 256 \
        --checkpoint work_dirs/demo/panet_r18_bufpn-gn_demo/iter_1600.pth \
        --image data/demo_shapes/val/val_00001.png --repeats 10
    python tools/benchmark.py onnx \
        configs/panet/panet_r50_bufpn-gn_1x_coco.py --shape 800 1216 \
        --score-thr 0.0 --image data/demo_shapes/val/val_00001.png \
        --repeats 5 --warmup 1

With random weights a COCO model's class scores sit near 1/81, under the
config's ``score_thr`` (0.05), so nothing reaches the mask head; ``--score-thr
0.0`` makes every image carry ``max_per_img`` detections through the mask
head, the heavy end of a trained model's test-time work.
"""
import json
import os.path as osp
import tempfile

from .common import (add_timing_arguments, device_line, format_table,
                     interleaved_medians, positive_int, set_threads)

NAME = 'onnx'
IMPLS = ('onnx', 'grid_sample')


def add_arguments(p):
    p.add_argument('config')
    p.add_argument('--checkpoint', help='weights (default: random init)')
    p.add_argument(
        '--shape',
        type=positive_int,
        nargs=2,
        default=(256, 256),
        metavar=('H', 'W'),
        help='padded input size')
    p.add_argument(
        '--image',
        help='an image to resize to --shape and '
        'normalise (default: a seeded random image)')
    p.add_argument(
        '--score-thr',
        type=float,
        help="override the config's test_cfg.rcnn.score_thr")
    p.add_argument('--json', help='also write the results here')
    # --threads: both runtimes' (intra-op) threads
    add_timing_arguments(p, repeats=10, warmup=2, device=False, threads=0)


def make_input(meta, shape, image_path=None, seed=0):
    """(1, 3, H, W) float32 as the data_preprocessor makes it, from an image
    resized to exactly ``shape`` (or a seeded random one)."""
    import cv2
    import numpy as np

    from panet_mmdet.deployment import preprocess
    h, w = shape
    if image_path:
        image = cv2.imread(image_path, cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'cannot read image {image_path!r}')
        image = cv2.resize(image, (w, h))
    else:
        image = np.random.default_rng(seed).integers(
            0, 256, (h, w, 3), dtype=np.uint8)
    input, _ = preprocess(image, dict(meta, resize=None), pad_to=shape)
    return input


def run(args):
    import torch

    from panet_mmdet.apis import load_detector
    from panet_mmdet.deployment import OnnxDetector, export_onnx, torch_predict
    from panet_mmdet.deployment.exporter import export_metadata
    threads = set_threads(args.threads)
    options = None
    if args.score_thr is not None:
        options = {'model.test_cfg.rcnn.score_thr': args.score_thr}
    model = load_detector(
        args.config, args.checkpoint, device='cpu', cfg_options=options)
    shape = tuple(args.shape)
    input = make_input(export_metadata(model, shape), shape, args.image)
    input_t = torch.from_numpy(input)

    sessions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for impl in IMPLS:
            path = osp.join(tmp, f'{impl}.onnx')
            try:
                export_onnx(
                    model,
                    path,
                    shape,
                    roi_align_impl=impl,
                    example_input=input_t)
            except ValueError as e:  # grid_sample: adaptive sampling_ratio
                print(f'skipped the {impl} RoIAlign: {e}')
                continue
            sessions[impl] = OnnxDetector(path, threads=threads)

    counts = {'pytorch': len(torch_predict(model, input_t)['scores'])}
    for impl, session in sessions.items():
        counts[f'ort_{impl}'] = int(session.run(input)['dets'].shape[1])
    fns = {'pytorch': lambda: torch_predict(model, input_t)}
    for impl, session in sessions.items():
        fns[f'ort_{impl}'] = (lambda s=session: s.run(input))
    medians = interleaved_medians(fns, 'cpu', args.repeats, args.warmup)

    name = osp.splitext(osp.basename(args.config))[0]
    weights = args.checkpoint or 'random weights'
    print(
        device_line('cpu') + f'; ONNX Runtime {_ort_version()}, '
        f'{threads} intra-op threads')
    print(f'{name} ({weights}), input 1x3x{shape[0]}x{shape[1]}, median of '
          f'{args.repeats} after {args.warmup} warm-up, interleaved')
    labels = {
        'pytorch': 'PyTorch (mmdet predict)',
        'ort_onnx': 'ONNX Runtime, RoiAlign op',
        'ort_grid_sample': 'ONNX Runtime, GridSample RoIAlign'
    }
    rows = {
        label:
        dict(
            detections=counts[key],
            ms=medians[key] * 1000,
            speedup=f"{medians['pytorch'] / medians[key]:.2f}x")
        for key, label in labels.items() if key in medians
    }
    print(
        format_table(
            rows,
            dict(
                detections='detections',
                ms='ms / image',
                speedup='speed-up vs PyTorch'),
            label='runtime',
            markdown=True))
    if len(set(counts.values())) != 1:
        print(f'warning: the runtimes disagree on the detections: {counts}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    config=args.config,
                    weights=weights,
                    shape=list(shape),
                    threads=threads,
                    repeats=args.repeats,
                    counts=counts,
                    median_s=medians),
                f,
                indent=2)
    return medians


def _ort_version():
    import onnxruntime
    return onnxruntime.__version__
