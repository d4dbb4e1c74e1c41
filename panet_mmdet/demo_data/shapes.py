"""A small, deterministic COCO-format instance-segmentation dataset.

The demo data of this repository: images of filled shapes (three classes)
on textured backgrounds, written as COCO ``instances_*.json`` files that
mmdet's ``CocoDataset`` and ``CocoMetric`` read unchanged.

What the generator guarantees, so that the demo exercises what PANet is
about (small objects, occlusion, touching instances):

* objects of COCO's three size ranges, sampled by *visible mask area*:
  small (< 32*32 px), medium, and large (> 96*96 px);
* overlapping instances (a later object occludes an earlier one; the
  earlier one keeps only its visible part) and touching instances (placed
  with their boxes edge to edge);
* masks stored as polygons (default) or compressed RLE;
* the same files, byte for byte, for the same seed and arguments.

Two background sources: ``'synthetic'`` (default; smooth colour gradients,
noise and stripes, no dependency) and ``'photo'`` (random crops of the real
photographs that ship with scikit-image, when it is installed).
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from panet_mmdet.utils import check_choice

CLASSES: Tuple[str, ...] = ('circle', 'rectangle', 'triangle')

# Visible-area ranges (pixels) for COCO's size buckets: small < 32**2,
# medium in [32**2, 96**2], large > 96**2. The sampled target areas stay
# clear of the bucket edges so that anti-aliasing never moves an object.
_AREA_RANGES: Dict[str, Tuple[int, int]] = {
    'small': (120, 850),
    'medium': (1300, 8000),
    'large': (10500, 22000),
}
_SIZE_PROBS: Dict[str, float] = {'small': 0.4, 'medium': 0.42, 'large': 0.18}

BACKGROUNDS = ('synthetic', 'photo')
MASK_FORMATS = ('polygon', 'rle')

_PHOTO_NAMES = ('astronaut', 'chelsea', 'coffee', 'rocket',
                'immunohistochemistry', 'hubble_deep_field', 'retina', 'cat')


def _synthetic_background(rng: np.random.Generator, h: int,
                          w: int) -> np.ndarray:
    """A smooth two-colour gradient with stripes and noise, uint8 (h, w, 3)."""
    c0 = rng.uniform(40, 200, size=3)
    c1 = rng.uniform(40, 200, size=3)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * math.cos(angle) + yy * math.sin(angle))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    period = rng.uniform(12, 40)
    stripe_angle = rng.uniform(0, math.pi)
    stripes = np.sin(
        (xx * math.cos(stripe_angle) + yy * math.sin(stripe_angle)) * 2 *
        math.pi / period)
    img += rng.uniform(5, 18) * stripes[..., None]
    img += rng.normal(0, 6, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _photo_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    try:
        from skimage import data as skdata
    except ImportError as e:
        raise ImportError(
            "background='photo' needs scikit-image "
            "(pip install scikit-image); use background='synthetic' otherwise"
        ) from e
    name = _PHOTO_NAMES[int(rng.integers(len(_PHOTO_NAMES)))]
    photo = np.asarray(getattr(skdata, name)())
    if photo.ndim == 2:
        photo = np.stack([photo] * 3, axis=-1)
    photo = photo[..., :3]
    if photo.dtype != np.uint8:
        photo = (255 * (photo - photo.min()) /
                 max(float(photo.max() - photo.min()), 1e-6)).astype(np.uint8)
    scale = max(h / photo.shape[0], w / photo.shape[1]) * rng.uniform(1.0, 2.0)
    photo = cv2.resize(
        photo,
        (math.ceil(photo.shape[1] * scale), math.ceil(photo.shape[0] * scale)))
    y0 = int(rng.integers(0, photo.shape[0] - h + 1))
    x0 = int(rng.integers(0, photo.shape[1] - w + 1))
    # RGB -> BGR, since images are written with OpenCV.
    return np.ascontiguousarray(photo[y0:y0 + h, x0:x0 + w, ::-1])


def _shape_mask(rng: np.random.Generator, label: int, area: float, h: int,
                w: int, centre: Optional[Tuple[float, float]]) -> np.ndarray:
    """Rasterise one shape of about ``area`` pixels, bool (h, w)."""
    aspect = rng.uniform(0.6, 1.6)
    angle = rng.uniform(0, 180)
    if label == 0:  # ellipse: area = pi * a * b
        b = math.sqrt(area / (math.pi * aspect))
        a = aspect * b
    elif label == 1:  # rotated rectangle: area = w * h
        rh = math.sqrt(area / aspect)
        rw = aspect * rh
    else:  # triangle, vertices on an ellipse: area = 3*sqrt(3)/4 * a * b
        b = math.sqrt(area / (3 * math.sqrt(3) / 4 * aspect))
        a = aspect * b
    if centre is None:
        cx = rng.uniform(0.1 * w, 0.9 * w)
        cy = rng.uniform(0.1 * h, 0.9 * h)
    else:
        cx, cy = centre
    canvas = np.zeros((h, w), np.uint8)
    if label == 0:
        cv2.ellipse(canvas, ((cx, cy), (2 * a, 2 * b), angle), 1, thickness=-1)
    elif label == 1:
        pts = cv2.boxPoints(((cx, cy), (rw, rh), angle))
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    else:
        theta = np.deg2rad(angle) + np.array(
            [0, 2 * math.pi / 3, 4 * math.pi / 3])
        pts = np.stack([cx + a * np.cos(theta), cy + b * np.sin(theta)],
                       axis=1)
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    return canvas.astype(bool)


def _touching_centre(rng: np.random.Generator, box: Tuple[int, int, int, int],
                     area: float, h: int, w: int) -> Tuple[float, float]:
    """A centre beside ``box`` (x0, y0, x1, y1) so a new shape touches it."""
    x0, y0, x1, y1 = box
    r = 0.5 * math.sqrt(area)
    side = int(rng.integers(4))
    if side == 0:
        return x1 + r, rng.uniform(y0, y1)
    if side == 1:
        return x0 - r, rng.uniform(y0, y1)
    if side == 2:
        return rng.uniform(x0, x1), y1 + r
    return rng.uniform(x0, x1), y0 - r


def _bbox(mask: np.ndarray) -> Tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _mask_to_polygons(mask: np.ndarray) -> List[List[float]]:
    """Outer contours of a bool mask as COCO polygons (x, y pairs)."""
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        if len(contour) >= 3:
            # Pixel centres -> pixel corners: a 1-px contour drawn at integer
            # coordinates covers the pixels, so shift by half a pixel.
            polygons.append((contour.reshape(-1, 2).astype(float) +
                             0.5).flatten().tolist())
    return polygons


def _has_hole(mask: np.ndarray) -> bool:
    """Whether a bool mask encloses background (a polygon cannot say so)."""
    _, hierarchy = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0, :, 3] >= 0).any())


def size_bucket(area: float) -> str:
    """COCO's size name for a mask area in pixels."""
    if area < 32**2:
        return 'small'
    if area > 96**2:
        return 'large'
    return 'medium'


class _Shape(NamedTuple):
    label: int
    mask: np.ndarray  # bool (h, w), the whole shape
    colour: np.ndarray  # BGR, float (3, )


def _place_shapes(rng: np.random.Generator, height: int, width: int,
                  num_objects: int, touch_prob: float, min_visible: float,
                  forbid_holes: bool, max_tries: int) -> List[_Shape]:
    """Up to ``num_objects`` shapes in painting order (later ones occlude
    earlier ones), each kept only if every earlier shape stays in its size
    bucket and at least ``min_visible`` of it stays visible."""
    shapes: List[_Shape] = []
    visible: List[np.ndarray] = []
    buckets = list(_SIZE_PROBS)
    probs = np.array([_SIZE_PROBS[b] for b in buckets])
    for _ in range(max_tries):
        if len(shapes) == num_objects:
            break
        bucket = buckets[int(rng.choice(len(buckets), p=probs / probs.sum()))]
        lo, hi = _AREA_RANGES[bucket]
        target = rng.uniform(lo, hi)
        label = int(rng.integers(len(CLASSES)))
        centre = None
        if shapes and rng.random() < touch_prob:
            other = visible[int(rng.integers(len(visible)))]
            centre = _touching_centre(rng, _bbox(other), target, height, width)
        mask = _shape_mask(rng, label, target, height, width, centre)
        area = mask.sum()
        # Reject shapes clipped by the border into another size bucket.
        if area == 0 or size_bucket(area) != bucket:
            continue
        new_visible = [v & ~mask for v in visible]
        ok = all(
            nv.sum() >= min_visible *
            s.mask.sum() and size_bucket(nv.sum()) == size_bucket(s.mask.sum())
            for nv, s in zip(new_visible, shapes))
        if ok and forbid_holes:
            # Polygons can describe neither holes nor slivers without area.
            ok = not any(_has_hole(m) for m in new_visible) and all(
                _mask_to_polygons(m) for m in new_visible + [mask])
        if not ok:
            continue
        visible = new_visible + [mask]
        shapes.append(_Shape(label, mask, rng.uniform(0, 255, size=3)))
    return shapes


def _paint(rng: np.random.Generator, background: np.ndarray,
           shapes: List[_Shape]) -> np.ndarray:
    """Shapes over the background in order, each with a horizontal shading,
    then pixel noise: uint8 (h, w, 3)."""
    height, width = background.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    canvas = background.astype(np.float32)
    for shape in shapes:
        x0, y0, x1, y1 = _bbox(shape.mask)
        shade = 1.0 + 0.25 * ((xx - x0) / max(x1 - x0, 1) - 0.5)
        shaded = shape.colour[None, None] * shade[..., None]
        canvas[shape.mask] = shaded[shape.mask]
    noisy = canvas + rng.normal(0, 4, canvas.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _visible_masks(shapes: List[_Shape]) -> List[np.ndarray]:
    """Each shape's mask minus what later shapes cover."""
    covered = np.zeros_like(shapes[0].mask) if shapes else None
    visible = []
    for shape in reversed(shapes):
        visible.append(shape.mask & ~covered)
        covered = covered | shape.mask
    return visible[::-1]


def _render_image(rng: np.random.Generator,
                  height: int,
                  width: int,
                  num_objects: int,
                  background: str = 'synthetic',
                  touch_prob: float = 0.3,
                  min_visible: float = 0.45,
                  forbid_holes: bool = True,
                  max_tries: int = 60) -> Tuple[np.ndarray, List[dict]]:
    """Draw one image and its instances: background, placing, painting.

    Returns:
        tuple: the BGR image, uint8 (height, width, 3), and a list of
        instances, each ``dict(label, mask)`` with the *visible* bool mask
        (height, width), in painting order (later ones occlude earlier ones).
    """
    make_background = (
        _synthetic_background
        if background == 'synthetic' else _photo_background)
    img = make_background(rng, height, width)
    shapes = _place_shapes(rng, height, width, num_objects, touch_prob,
                           min_visible, forbid_holes, max_tries)
    img = _paint(rng, img, shapes)
    return img, [
        dict(label=s.label, mask=m)
        for s, m in zip(shapes, _visible_masks(shapes))
    ]


def _encode_mask(mask: np.ndarray, mask_format: str):
    """COCO ``segmentation`` of a bool mask: polygons or compressed RLE."""
    if mask_format == 'polygon':
        return _mask_to_polygons(mask)
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(
        size=[int(s) for s in rle['size']],
        counts=rle['counts'].decode('ascii'))


def _generate_split(out_dir: str, split: str, num_images: int, seed: int,
                    img_size: Tuple[int, int], objects_per_image: Tuple[int,
                                                                        int],
                    background: str, mask_format: str) -> dict:
    """Write ``{out_dir}/{split}/*.png`` and return the COCO dict."""
    rng = np.random.default_rng(seed)
    img_dir = osp.join(out_dir, split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    height, width = img_size
    for img_id in range(1, num_images + 1):
        num_objects = int(
            rng.integers(objects_per_image[0], objects_per_image[1] + 1))
        img, instances = _render_image(
            rng,
            height,
            width,
            num_objects,
            background,
            forbid_holes=mask_format == 'polygon')
        file_name = f'{split}_{img_id:05d}.png'
        cv2.imwrite(osp.join(img_dir, file_name), img)
        images.append(
            dict(id=img_id, file_name=file_name, height=height, width=width))
        for inst in instances:
            m = inst['mask']
            x0, y0, x1, y1 = _bbox(m)
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=inst['label'] + 1,
                    segmentation=_encode_mask(m, mask_format),
                    area=float(m.sum()),
                    bbox=[
                        float(x0),
                        float(y0),
                        float(x1 - x0),
                        float(y1 - y0)
                    ],
                    iscrowd=0))
    categories = [
        dict(id=i + 1, name=n, supercategory='shape')
        for i, n in enumerate(CLASSES)
    ]
    return dict(
        info=dict(description=f'panet_mmdet demo shapes, {split}, '
                  f'seed {seed}'),
        images=images,
        annotations=annotations,
        categories=categories)


def generate_shapes_dataset(out_dir: str,
                            num_train: int = 160,
                            num_val: int = 40,
                            seed: int = 0,
                            img_size: Tuple[int, int] = (256, 256),
                            objects_per_image: Tuple[int, int] = (3, 7),
                            background: str = 'synthetic',
                            mask_format: str = 'polygon') -> Dict[str, str]:
    """Write the demo dataset and return the paths of its annotation files.

    Layout (mmdet's COCO layout)::

        out_dir/annotations/instances_train.json
        out_dir/annotations/instances_val.json
        out_dir/train/train_00001.png ...
        out_dir/val/val_00001.png ...

    Args:
        out_dir: Root folder; created if missing, files are overwritten.
        num_train / num_val: Number of images per split (>= 1).
        seed: Seed; the val split uses ``seed + 1`` so splits never repeat.
        img_size: (height, width) of every image, each >= 64.
        objects_per_image: Inclusive (min, max) number of objects.
        background: One of ``BACKGROUNDS``.
        mask_format: ``'polygon'`` or ``'rle'``.
    """
    check_choice('background', background, BACKGROUNDS)
    check_choice('mask_format', mask_format, MASK_FORMATS)
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got '
                         f'{num_train} and {num_val}')
    if len(img_size) != 2 or min(img_size) < 64:
        raise ValueError(f'img_size must be (height, width) with both >= 64, '
                         f'got {img_size}')
    if not 1 <= objects_per_image[0] <= objects_per_image[1]:
        raise ValueError('objects_per_image must be (min, max) with '
                         f'1 <= min <= max, got {objects_per_image}')
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    paths = {}
    for split, num, split_seed in (('train', num_train, seed), ('val', num_val,
                                                                seed + 1)):
        coco = _generate_split(out_dir, split, num,
                               split_seed, tuple(img_size),
                               tuple(objects_per_image), background,
                               mask_format)
        path = osp.join(ann_dir, f'instances_{split}.json')
        with open(path, 'w') as f:
            json.dump(coco, f)
        paths[split] = path
    return paths
