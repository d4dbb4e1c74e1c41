"""Draw a model's predictions on images: a file, a folder or a glob.

Works with any config and checkpoint of this repository (or mmdet's), via
mmdet's ``DetInferencer`` (:func:`panet_mmdet.apis.build_inferencer`, which
refuses a checkpoint that does not fit the config): writes
``OUT/vis/*.jpg`` (masks, boxes, labels) and, with ``--save-pred``,
``OUT/preds/*.json``.

    python tools/infer.py data/demo_shapes/val \
        configs/demo/panet_r18_bufpn-gn_demo.py \
        work_dirs/demo/panet_r18_bufpn-gn_demo/iter_1600.pth --out-dir outputs
"""
import argparse
import glob
import os.path as osp

from panet_mmdet.apis import build_inferencer


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        'inputs',
        help="an image file, a folder of images or a glob ('imgs/*.jpg', "
        'quoted so that the shell leaves it alone)')
    p.add_argument('config', help='model config file')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--out-dir', default='outputs', help='output folder')
    p.add_argument(
        '--device',
        default=None,
        help='cpu, cuda or cuda:N (default: cuda when a GPU is usable)')
    p.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='draw predictions above this score')
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument(
        '--save-pred',
        action='store_true',
        help='also write the predictions as JSON')
    p.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='run even if the checkpoint does not fill every '
        'tensor of the model')
    return p.parse_args(argv)


def expand_inputs(inputs: str):
    """``inputs`` as DetInferencer takes it: a file or folder as given, a
    glob pattern as the sorted list of files it matches."""
    if osp.exists(inputs):
        return inputs
    if glob.has_magic(inputs):
        files = sorted(p for p in glob.glob(inputs) if osp.isfile(p))
        if files:
            return files
        raise FileNotFoundError(f'inputs: no file matches {inputs!r}')
    raise FileNotFoundError(f'inputs not found: {inputs!r}')


def main(argv=None):
    args = parse_args(argv)
    inputs = expand_inputs(args.inputs)
    for path, what in ((args.config, 'config'), (args.checkpoint,
                                                 'checkpoint')):
        if not osp.exists(path):
            raise FileNotFoundError(f'{what} not found: {path!r}')
    inferencer = build_inferencer(
        args.config,
        args.checkpoint,
        strict=not args.allow_partial_checkpoint,
        device=args.device,
        show_progress=False)
    inferencer(
        inputs,
        batch_size=args.batch_size,
        out_dir=args.out_dir,
        pred_score_thr=args.score_thr,
        no_save_pred=not args.save_pred)
    print(f'results written to {osp.join(args.out_dir, "vis")}')


if __name__ == '__main__':
    main()
