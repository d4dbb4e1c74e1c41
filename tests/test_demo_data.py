"""The embedded demo data generator: valid COCO, deterministic, all sizes."""
import hashlib
import json
import os
import os.path as osp

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from panet_mmdet.demo_data import CLASSES, generate_shapes_dataset, size_bucket


def _digest(folder):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            with open(osp.join(dirpath, name), 'rb') as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('demo'))
    paths = generate_shapes_dataset(out, num_train=24, num_val=8, seed=0)
    return out, paths


def _iou(a, b):
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    return ix * iy / (aw * ah + bw * bh - ix * iy)


def _touch(a, b):
    """Boxes share an edge (within a pixel) without overlapping much."""
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    gap_x = max(bx0 - (ax0 + aw), ax0 - (bx0 + bw))
    gap_y = max(by0 - (ay0 + ah), ay0 - (by0 + bh))
    return max(gap_x, gap_y) <= 1 and _iou(a, b) < 0.05


def test_valid_coco_with_all_sizes_classes_and_splits(demo):
    out, paths = demo
    assert set(paths) == {'train', 'val'}
    for split, path in paths.items():
        coco = COCO(path)
        assert [c['name']
                for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
        anns = coco.loadAnns(coco.getAnnIds())
        assert len(coco.getImgIds()) == (24 if split == 'train' else 8)
        assert {size_bucket(a['area'])
                for a in anns} == {'small', 'medium', 'large'}
        assert {a['category_id'] for a in anns} == {1, 2, 3}
        for img in coco.loadImgs(coco.getImgIds()):
            assert osp.isfile(osp.join(out, split, img['file_name']))
        for ann in anns:
            assert ann['iscrowd'] == 0
            assert isinstance(ann['segmentation'],
                              list) and ann['segmentation']
            mask = coco.annToMask(ann)
            # polygons approximate the stored visible mask: same size bucket
            # and close in area; the box is the mask's box.
            assert abs(mask.sum() - ann['area']) <= 0.35 * ann['area'] + 8
            ys, xs = np.nonzero(mask)
            x, y, w, h = ann['bbox']
            assert xs.min() >= x - 1 and xs.max() <= x + w
            assert ys.min() >= y - 1 and ys.max() <= y + h


def test_overlapping_and_touching_instances_exist(demo):
    _, paths = demo
    coco = COCO(paths['train'])
    overlapping = touching = 0
    for img_id in coco.getImgIds():
        boxes = [
            a['bbox'] for a in coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        ]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                overlapping += _iou(boxes[i], boxes[j]) > 0.05
                touching += _touch(boxes[i], boxes[j])
    assert overlapping >= 3
    assert touching >= 3


def test_deterministic_from_seed(tmp_path):
    a, b, c = (str(tmp_path / n) for n in 'abc')
    for folder, seed in ((a, 5), (b, 5), (c, 6)):
        generate_shapes_dataset(
            folder, num_train=3, num_val=2, seed=seed, img_size=(96, 128))
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_rle_masks_are_exact(tmp_path):
    paths = generate_shapes_dataset(
        str(tmp_path), num_train=3, num_val=1, seed=1, mask_format='rle')
    coco = COCO(paths['train'])
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert isinstance(ann['segmentation'], dict)
        assert int(mask_utils.area(ann['segmentation'])) == ann['area']


def test_images_have_the_declared_size(tmp_path):
    import cv2
    paths = generate_shapes_dataset(
        str(tmp_path), num_train=2, num_val=1, seed=2, img_size=(96, 160))
    with open(paths['train']) as f:
        images = json.load(f)['images']
    for img in images:
        arr = cv2.imread(osp.join(str(tmp_path), 'train', img['file_name']))
        assert arr.shape == (96, 160, 3) == (img['height'], img['width'], 3)


@pytest.mark.parametrize('kwargs, name', [
    (dict(background='noise'), 'background'),
    (dict(mask_format='bitmap'), 'mask_format'),
    (dict(num_train=0), 'num_train'),
    (dict(img_size=(32, 256)), 'img_size'),
    (dict(objects_per_image=(4, 2)), 'objects_per_image'),
])
def test_bad_arguments_raise_value_error(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_shapes_dataset(str(tmp_path), **kwargs)


def test_photo_backgrounds_when_scikit_image_is_installed(tmp_path):
    pytest.importorskip('skimage')
    paths = generate_shapes_dataset(
        str(tmp_path), num_train=3, num_val=1, seed=4, background='photo')
    coco = COCO(paths['train'])
    assert len(coco.getImgIds()) == 3 and coco.getAnnIds()
