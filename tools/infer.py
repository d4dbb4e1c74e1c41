"""Draw a model's predictions on an image or a folder of images.

Works with any config and checkpoint of this repository (or mmdet's), via
mmdet's ``DetInferencer``: writes ``OUT/vis/*.jpg`` (masks, boxes, labels)
and, with ``--save-pred``, ``OUT/preds/*.json``.

    python tools/infer.py data/demo_shapes/val \
        configs/demo/panet_r18_bufpn-gn_demo.py \
        work_dirs/demo/panet_r18_bufpn-gn_demo/iter_1600.pth --out-dir outputs
"""
import argparse
import os.path as osp

import panet_mmdet  # noqa: F401  (registers the modules)
from panet_mmdet.utils import allow_mmengine_checkpoints


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('inputs', help='an image file or a folder of images')
    p.add_argument('config', help='model config file')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--out-dir', default='outputs', help='output folder')
    p.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
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


def main(argv=None):
    args = parse_args(argv)
    for path, what in ((args.inputs, 'inputs'), (args.config, 'config'),
                       (args.checkpoint, 'checkpoint')):
        if not osp.exists(path):
            raise FileNotFoundError(f'{what} not found: {path!r}')
    from mmdet.apis import DetInferencer
    allow_mmengine_checkpoints()  # DetInferencer's torch.load(weights_only)
    inferencer = DetInferencer(
        model=args.config,
        weights=args.checkpoint,
        device=args.device,
        show_progress=False)
    from panet_mmdet.utils.checkpoint_fit import check_checkpoint_fits
    check_checkpoint_fits(inferencer.model, args.checkpoint,
                          args.allow_partial_checkpoint, args.config)
    inferencer(
        args.inputs,
        batch_size=args.batch_size,
        out_dir=args.out_dir,
        pred_score_thr=args.score_thr,
        no_save_pred=not args.save_pred)
    print(f'results written to {osp.join(args.out_dir, "vis")}')


if __name__ == '__main__':
    main()
