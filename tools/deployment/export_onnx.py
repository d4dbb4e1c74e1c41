"""Export a trained detector to ONNX (standard ops only) and check it.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx \
        --shape 256 256 [--dynamic] [--opset 16] [--verify IMAGE]

The graph takes ``input`` (1, 3, H, W), the model's data_preprocessor
output, and ``img_shape`` (2,) int64, the image's size inside it; it returns
``dets`` (1, N, 5), ``labels`` (1, N) and, for mask models, ``masks``
(1, N, H, W) probabilities (docs/deploy.md). Models converted from the
PANet authors' checkpoints (configs/panet/official, DetectronRoIHead) also
take ``ori_shape`` (2,) int64 and ``scale_factor`` (2,) float32 and return
``dets`` in the original image and ``mask_probs`` (1, N, 28, 28), pasted
after the graph as the authors paste.
``--verify IMAGE [IMAGE ...]`` (files or folders) runs PyTorch (mmdet's own
predict) and ONNX Runtime on each image and exits 1 unless every detection
matches one to one.
"""
import argparse
import os
import os.path as osp
import sys
import time

from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='model config file')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--out', required=True, help='output .onnx file')
    p.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='export even if the checkpoint does not fill every '
        'tensor of the model')
    p.add_argument(
        '--shape',
        type=int,
        nargs=2,
        required=True,
        metavar=('H', 'W'),
        help='graph input size (padded); with --dynamic, the '
        'size traced at')
    p.add_argument('--opset', type=int, default=16, help='ONNX opset (>= 16)')
    p.add_argument(
        '--dynamic',
        action='store_true',
        help='dynamic input height and width')
    p.add_argument(
        '--roi-align',
        default='onnx',
        choices=('onnx', 'grid_sample'),
        help='RoIAlign as the ONNX RoiAlign op or built from '
        'GridSample (fixed sampling_ratio only)')
    p.add_argument(
        '--verify',
        metavar='IMAGE',
        nargs='+',
        help='compare PyTorch and ONNX Runtime on these images '
        '(files or folders)')
    p.add_argument(
        '--score-min',
        type=float,
        default=0.05,
        help='--verify: detections from this score on must match')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as in tools/train.py')
    return p.parse_args(argv)


def image_files(paths):
    """Image files named by ``paths``: files as given, folders expanded."""
    files = []
    for path in [paths] if isinstance(paths, str) else paths:
        if osp.isdir(path):
            files += sorted(
                osp.join(path, name) for name in os.listdir(path)
                if name.lower().endswith(('.png', '.jpg', '.jpeg', '.bmp')))
        else:
            files.append(path)
    if not files:
        raise FileNotFoundError(f'no images in {paths!r}')
    return files


def verify(model, onnx_path, images, score_min):
    """Print PyTorch-vs-ONNX-Runtime parity on each image (a path, a folder
    or a list of them) and over all; True if it holds on every image."""
    import cv2
    import torch

    from panet_mmdet.deployment import (OnnxDetector, ParityReport,
                                        compare_detections, graph_result,
                                        preprocess, torch_predict)
    detector = OnnxDetector(onnx_path)
    files = image_files(images)
    failed = 0
    total = ParityReport(0, 0, 0)
    for path in files:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'cannot read image {path!r}')
        input, info = preprocess(image, detector.meta)
        # the Detectron frame computes in the original image: both sides
        # get its size and the scale factor
        frame = dict(ori_shape=info['ori_shape'],
                     scale_factor=info['scale_factor']) \
            if detector.output_frame == 'original' else {}
        reference = torch_predict(model, torch.from_numpy(input),
                                  info['img_shape'], **frame)
        outputs = detector.run(input, info['img_shape'], **frame)
        report = compare_detections(
            reference,
            graph_result(outputs, detector.meta['mask_thr_binary'],
                         info['ori_shape']),
            score_min=score_min)
        print(f'verify {path} (input {input.shape[2]}x{input.shape[3]}): '
              f'{report.summary()}')
        failed += not report.ok()
        total.num_reference += report.num_reference
        total.num_test += report.num_test
        total.matched += report.matched
        total.max_score_diff = max(total.max_score_diff, report.max_score_diff)
        total.min_box_iou = min(total.min_box_iou, report.min_box_iou)
        total.mask_ious += report.mask_ious
    if len(files) > 1:
        print(f'verify: {len(files) - failed}/{len(files)} images match; '
              f'over all, {total.summary()}')
    return failed == 0


def main(argv=None):
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint,
                                                 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} not found: {path!r}')
    from panet_mmdet.apis import load_detector
    from panet_mmdet.deployment import export_onnx
    model = load_detector(
        args.config,
        args.checkpoint,
        strict=not args.allow_partial_checkpoint,
        device='cpu',  # traced on the CPU; the graph runs anywhere
        cfg_options=args.cfg_options)
    t = time.perf_counter()
    export_onnx(
        model,
        args.out,
        tuple(args.shape),
        opset=args.opset,
        dynamic=args.dynamic,
        roi_align_impl=args.roi_align)
    size = osp.getsize(args.out) / 2**20
    print(f'exported {args.out} ({size:.1f} MiB, opset {args.opset}, '
          f'{"dynamic" if args.dynamic else "%dx%d" % tuple(args.shape)} '
          f'input) in {time.perf_counter() - t:.1f} s; onnx.checker (full '
          'check) passed; standard ONNX ops only')
    if args.verify and not verify(model, args.out, args.verify,
                                  args.score_min):
        print(
            'verify: MISMATCH between PyTorch and ONNX Runtime',
            file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
