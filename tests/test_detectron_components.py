"""The Detectron-convention components, each against the independent
re-implementation of the authors' code in tests/reference/authors_panet.py
(not against themselves)."""
import cv2
import matplotlib.cbook as cbook
import numpy as np
import pytest
import torch
from mmdet.models.task_modules.prior_generators import LegacyAnchorGenerator
from mmdet.structures.mask import BitmapMasks

import panet_mmdet  # noqa: F401
from panet_mmdet.datasets.transforms import DetectronResize
from panet_mmdet.models import (DetectronAnchorGenerator,
                                DetectronDeltaXYWHBBoxCoder, DetectronRPNHead,
                                FCNormConvFCBBoxHead)
from panet_mmdet.models.roi_heads import paste_masks_detectron
from reference import authors_panet as A

PHOTO = cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)
STRIDES, SIZES = [4, 8, 16, 32, 64], [32, 64, 128, 256, 512]


def _random_boxes(n, size=400., seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-20, size, (n, 2))
    wh = rng.uniform(0.5, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], 1)


# ---------------------------------------------------------------- anchors
@pytest.mark.parametrize('level', range(5))
def test_anchors_equal_generate_anchors_on_every_level(level):
    gen = DetectronAnchorGenerator(STRIDES, [0.5, 1., 2.], SIZES)
    h, w = 7 + level, 5 + 2 * level
    ours = gen.single_level_grid_priors((h, w),
                                        level,
                                        dtype=torch.float64,
                                        device='cpu').numpy()
    theirs = A._all_anchors(level + 2, h, w)
    np.testing.assert_array_equal(ours, theirs)


def test_legacy_anchor_generator_is_not_detectron():
    """Why the component exists: mmdet's closest generator rounds after
    scaling; its ratio-0.5/2 anchors differ."""
    legacy = LegacyAnchorGenerator(
        STRIDES, [0.5, 1., 2.], scales=[8], center_offset=0.5)
    ours = DetectronAnchorGenerator(STRIDES, [0.5, 1., 2.], SIZES)
    for a, b in zip(legacy.base_anchors, ours.base_anchors):
        np.testing.assert_array_equal(a[1], b[1])  # squares agree
        assert (a[[0, 2]] - b[[0, 2]]).abs().max() >= 1


def test_anchor_generator_bad_arguments():
    with pytest.raises(ValueError, match='sizes must have one entry'):
        DetectronAnchorGenerator(STRIDES, [1.], SIZES[:3])
    with pytest.raises(ValueError, match='ratios must be positive'):
        DetectronAnchorGenerator(STRIDES, [0., 1.], SIZES)


# ------------------------------------------------------------------ coder
@pytest.mark.parametrize('stds,weights',
                         [((1., 1., 1., 1.), (1., 1., 1., 1.)),
                          ((.1, .1, .2, .2), (10., 10., 5., 5.))])
def test_decode_equals_bbox_transform_and_clip(stds, weights):
    boxes = _random_boxes(500)
    rng = np.random.default_rng(1)
    deltas = rng.normal(0, 1.5, (500, 4)) * np.array(weights) * 0.3
    deltas[:5, 2:] = 9.  # above BBOX_XFORM_CLIP: clipped
    deltas[5:10, 2:] = -9.  # Detectron does not clip from below
    coder = DetectronDeltaXYWHBBoxCoder(target_stds=stds)
    ours = coder.decode(
        torch.from_numpy(boxes),
        torch.from_numpy(deltas),
        max_shape=(300, 350)).numpy()
    theirs = A.clip_tiled_boxes(
        A.bbox_transform(boxes, deltas, weights), (300, 350))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    unclipped = coder.decode(
        torch.from_numpy(boxes), torch.from_numpy(deltas)).numpy()
    np.testing.assert_allclose(
        unclipped, A.bbox_transform(boxes, deltas, weights), atol=1e-9)


@pytest.mark.parametrize('half', [torch.float16, torch.bfloat16])
def test_half_precision_deltas_decode_in_fp32_boxes(half):
    """AMP gives fp16/bf16 deltas; the fp32 boxes (x = 1000-1400 px) are
    decoded in fp32, as mmdet's coder does: within 0.05 px of decoding the
    same (rounded) deltas in fp32, and fp32 out."""
    rng = np.random.default_rng(2)
    xy = rng.uniform(1000, 1300, (300, 2))
    wh = rng.uniform(8, 100, (300, 2))
    boxes = torch.from_numpy(np.concatenate([xy, xy + wh], 1)).float()
    deltas = torch.from_numpy(rng.normal(0, 0.5, (300, 4))).to(half)
    coder = DetectronDeltaXYWHBBoxCoder(target_stds=(.1, .1, .2, .2))
    got = coder.decode(boxes, deltas)
    want = coder.decode(boxes, deltas.float())
    assert got.dtype == torch.float32
    assert (got - want).abs().max() <= 0.05


def test_encode_inverts_decode_with_the_plus_one_convention():
    boxes = torch.from_numpy(_random_boxes(200))
    gts = torch.from_numpy(_random_boxes(200, seed=5))
    coder = DetectronDeltaXYWHBBoxCoder()
    deltas = coder.encode(boxes, gts)
    torch.testing.assert_close(
        coder.decode(boxes, deltas), gts, rtol=0, atol=1e-9)
    # a box onto itself: zero deltas; w = x2 - x1 + 1 (a 1-px box has w 1)
    same = coder.encode(boxes, boxes)
    assert same.abs().max() < 1e-12
    point = torch.tensor([[3., 4., 3., 4.]])
    twice = torch.tensor([[3., 4., 4., 5.]])  # 2 px wide and high
    torch.testing.assert_close(
        coder.encode(point, twice),
        torch.tensor([[5., 5., 5 * np.log(2.), 5 * np.log(2.)]],
                     dtype=torch.float32))


def test_coder_bad_arguments():
    with pytest.raises(ValueError, match='wh_ratio_clip'):
        DetectronDeltaXYWHBBoxCoder(wh_ratio_clip=2.)
    coder = DetectronDeltaXYWHBBoxCoder()
    with pytest.raises(ValueError, match='end in 4'):
        coder.decode(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match='one shape'):
        coder.encode(torch.zeros(3, 4), torch.zeros(2, 4))


# ----------------------------------------------------------------- resize
@pytest.mark.parametrize('target,max_size', [(1000, 1400), (256, 400),
                                             (600, 610)])
def test_resize_gives_the_authors_blob(target, max_size):
    im = cv2.imread(PHOTO)
    blob, im_scale, im_info = A.get_image_blob(im, target, max_size)
    out = DetectronResize(
        scales=target, max_size=max_size)(
            dict(img=im.copy(), img_shape=im.shape[:2]))
    assert out['scale_factor'] == (im_scale, im_scale)
    img = out['img'] - A.PIXEL_MEANS.astype(np.float32)
    h, w = img.shape[:2]
    assert (int(im_info[0, 0]), int(im_info[0, 1])) == (-(-h // 32) * 32,
                                                        -(-w // 32) * 32)
    theirs = blob[0].transpose(1, 2, 0)
    # subtracting the mean before or after a linear resize: float rounding
    np.testing.assert_allclose(img, theirs[:h, :w], rtol=0, atol=2e-4)
    assert not theirs[h:].any() and not theirs[:, w:].any()


def test_resize_scales_boxes_and_masks_and_draws_scales():
    from mmdet.structures.bbox import HorizontalBoxes
    img = np.zeros((100, 200, 3), np.uint8)
    masks = BitmapMasks(np.ones((1, 100, 200), np.uint8), 100, 200)
    t = DetectronResize(scales=(50, 80), max_size=1000)
    seen = set()
    for i in range(30):
        out = t(
            dict(
                img=img,
                gt_bboxes=HorizontalBoxes(
                    torch.tensor([[10., 20., 30., 40.]])),
                gt_masks=masks))
        s = out['scale_factor'][0]
        seen.add(round(s, 3))
        torch.testing.assert_close(out['gt_bboxes'].tensor,
                                   torch.tensor([[10., 20., 30., 40.]]) * s)
        assert out['gt_masks'].masks.shape[1:] == out['img'].shape[:2]
    assert seen == {0.5, 0.8}
    for bad in (0, [], [100, -1], 1.5):
        with pytest.raises(ValueError, match='scales'):
            DetectronResize(scales=bad)
    with pytest.raises(ValueError, match='max_size'):
        DetectronResize(scales=100, max_size=0)


# ------------------------------------------------------------------ paste
def test_paste_equals_segm_results():
    rng = np.random.default_rng(0)
    im_h, im_w, n = 120, 160, 40
    boxes = _random_boxes(n, size=150., seed=2).astype(np.float32)
    boxes[0] = [0., 0.2, 40.7, 50.1]  # expanded past the top-left corner
    boxes[1] = [150.2, 100.9, 159., 119.]  # ... and the bottom-right one
    boxes[2] = [20.3, 20.6, 20.4, 20.8]  # sub-pixel
    # detections are clipped to the image (the authors' code needs it)
    boxes = A.clip_tiled_boxes(boxes, (im_h, im_w))
    probs = rng.uniform(0, 1, (n, 81, 28, 28)).astype(np.float32)
    labels = rng.integers(1, 81, n)
    # segm_results walks the classes in order: give it the boxes that way
    order = np.argsort(labels, kind='stable')
    cls_boxes = [np.zeros((0, 5), np.float32)] + [
        np.c_[boxes[order][labels[order] == j],
              np.ones((np.sum(labels == j), 1))] for j in range(1, 81)
    ]
    theirs = A.segm_results(cls_boxes, probs[order], boxes[order], im_h, im_w)
    theirs = [m for j in range(1, 81) for m in theirs[j]]
    ours = paste_masks_detectron(probs[order, labels[order]], boxes[order],
                                 im_h, im_w)
    assert ours.shape == (n, im_h, im_w) and ours.dtype == bool
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b.astype(bool))
    assert ours.any(axis=(1, 2)).sum() > n // 2
    assert paste_masks_detectron(probs[:0, 0], boxes[:0], 5,
                                 5).shape == (0, 5, 5)


# -------------------------------------------------------------------- rpn
def test_rpn_head_clips_to_the_padded_image():
    head = DetectronRPNHead(
        in_channels=8,
        feat_channels=8,
        anchor_generator=dict(
            type='DetectronAnchorGenerator',
            strides=[4],
            ratios=[1.],
            sizes=[32]),
        bbox_coder=dict(
            type='DetectronDeltaXYWHBBoxCoder', target_stds=[1., 1., 1., 1.]))
    assert head.padded_shape((100, 90, 3)) == (128, 96)
    assert head.padded_shape((64, 32)) == (64, 32)
    from mmengine.config import ConfigDict
    torch.manual_seed(0)
    feat = torch.randn(1, 8, 32, 24)
    cls, reg = head([feat])
    # every anchor moved 4 widths right and down and grown e^2 times
    reg = [
        torch.zeros_like(reg[0]) +
        torch.tensor([4., 4., 2., 2.]).view(1, 4, 1, 1)
    ]
    cfg = ConfigDict(
        nms_pre=1000,
        max_per_img=1000,
        min_bbox_size=-1,
        nms=dict(type='nms', iou_threshold=0.99, offset=1))
    meta = dict(
        img_shape=(100, 90), scale_factor=(1., 1.), pad_shape=(128, 96))
    res = head.predict_by_feat(
        cls, reg, batch_img_metas=[meta], cfg=cfg, rescale=False)[0]
    # boxes pushed far right/down stop at the padded size minus one
    assert res.bboxes[:, 2].max() == 95 and res.bboxes[:, 3].max() == 127
    with pytest.raises(ValueError, match='pad_size_divisor'):
        DetectronRPNHead(in_channels=8, pad_size_divisor=0)


# --------------------------------------------------------------- bbox head
def test_fc_norm_head_is_fc_gn_relu():
    torch.manual_seed(0)
    head = FCNormConvFCBBoxHead(
        num_shared_convs=0,
        num_shared_fcs=1,
        in_channels=64,
        roi_feat_size=1,
        fc_out_channels=32,
        num_classes=3,
        fc_norm_cfg=dict(type='GN', num_groups=4))
    for p in head.parameters():
        torch.nn.init.normal_(p)
    x = torch.randn(6, 64)
    cls, reg = head(x)
    fc, gn = head.shared_fcs[0], head.shared_fc_norms[0]
    h = torch.relu(
        torch.nn.functional.group_norm(
            torch.nn.functional.linear(x, fc.weight, fc.bias), 4, gn.weight,
            gn.bias))
    torch.testing.assert_close(cls, head.fc_cls(h))
    torch.testing.assert_close(reg, head.fc_reg(h))
    assert cls.shape == (6, 4) and reg.shape == (6, 12)
    with pytest.raises(ValueError, match='fc_norm_cfg'):
        FCNormConvFCBBoxHead(num_shared_fcs=1, fc_norm_cfg=None)
    with pytest.raises(ValueError, match='num_shared_fcs'):
        FCNormConvFCBBoxHead(
            num_shared_convs=1,
            num_shared_fcs=0,
            fc_norm_cfg=dict(type='GN', num_groups=4))


def test_predict_mask_with_bf16_features():
    """bf16 autocast inference (``--amp`` with bf16): the mask
    probabilities reach the numpy paste as float32, masks are bool in the
    original image's frame, the same as from fp32 features up to bf16's
    rounding."""
    from mmengine.config import Config
    from mmengine.structures import InstanceData

    from panet_mmdet.apis import build_detector
    cfg = Config.fromfile(
        'configs/panet/official/panet-official_r50_bufpn-gn_2x_coco.py')
    head = build_detector(cfg).roi_head.eval()
    torch.manual_seed(0)
    feats = tuple(
        torch.randn(1, 256, 64 // 2**i, 80 // 2**i) for i in range(5))
    meta = dict(
        ori_shape=(120, 150),
        img_shape=(256, 320),
        scale_factor=(320 / 150, 256 / 120))

    def predict(x, dtype=torch.float32):
        results = InstanceData(
            bboxes=torch.tensor([[10., 12., 90., 70.], [40., 30., 140.,
                                                        110.]]),
            labels=torch.tensor([3, 7]),
            scores=torch.tensor([.9, .8]))
        with torch.no_grad(), torch.autocast(
                'cpu', dtype=dtype, enabled=dtype != torch.float32):
            return head.predict_mask(x, [meta], [results])[0].masks

    want = predict(feats)
    got = predict(tuple(f.bfloat16() for f in feats), torch.bfloat16)
    assert got.dtype == torch.bool and got.shape == (2, 120, 150)
    assert (got != want).float().mean() < 0.01
