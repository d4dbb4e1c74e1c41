"""What the demo's two picture tools share (``demo_picture.py`` draws the
picture, ``class_confusion.py`` gives its numbers): their common arguments,
the model they load, the labels of a COCO file's categories in the model's
class order, and the switch to class-agnostic NMS.
"""


def add_model_and_data_args(parser, score_thr_help: str) -> None:
    """CONFIG, CHECKPOINT, --ann, --img-dir, --score-thr (default 0.3) and
    --device, as both tools take them."""
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--ann', required=True, help='COCO instances file')
    parser.add_argument('--img-dir', required=True, help='the images of --ann')
    parser.add_argument(
        '--score-thr', type=float, default=0.3, help=score_thr_help)
    parser.add_argument('--device', default='cpu')


def check_score_thr(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'--score-thr must be in [0, 1], got {value}')


def load_model(config: str, checkpoint: str, device: str = 'cpu'):
    """The detector, refusing a checkpoint that does not fit
    (:func:`panet_mmdet.apis.load_detector`)."""
    from panet_mmdet.apis import load_detector
    return load_detector(config, checkpoint, device=device)


def model_labels(coco: dict, classes) -> dict:
    """``{category id: label}``, the label being the category's index in the
    model's ``classes`` (matched by name, not id), for every category of
    ``coco``. A category the model lacks that some annotation uses is a
    ValueError (its objects would otherwise go uncounted); unused ones are
    left out."""
    classes = list(classes)
    used = {a['category_id'] for a in coco['annotations']}
    labels = {}
    for cat in coco['categories']:
        if cat['name'] in classes:
            labels[cat['id']] = classes.index(cat['name'])
        elif cat['id'] in used:
            raise ValueError(f'--ann: category {cat["name"]!r} is not one '
                             f'of the model classes {classes}')
    missing = used - {c['id'] for c in coco['categories']}
    if missing:
        raise ValueError(f'--ann: annotations use category ids '
                         f'{sorted(missing)} that its categories lack')
    return labels


def set_class_agnostic_nms(model, value: bool) -> None:
    """Switch the RoI head's test-time NMS between per-class and
    class-agnostic (mmcv's ``batched_nms`` reads ``class_agnostic``)."""
    test_cfg = getattr(getattr(model, 'roi_head', None), 'test_cfg', None)
    if test_cfg is None or 'nms' not in test_cfg:
        raise ValueError('config: the model has no roi_head.test_cfg.nms '
                         '(a two-stage detector is needed); use '
                         '--per-class-nms to draw its own post-processing')
    test_cfg.nms['class_agnostic'] = value
