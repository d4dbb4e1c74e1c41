"""Independent re-implementation of the PANet authors' *test-time* computation.

Reference for parity tests. It reproduces, single image (batch 1) and in
plain torch / numpy / cv2, what ShuLiu1993/PANet computes at inference for
the three configs ``configs/panet/e2e_panet_R-50-FPN_2x_mask.yaml``
(``'mask_2x'``), ``e2e_panet_R-50-FPN_1x_det.yaml`` (``'det_1x'``) and
``e2e_panet_R-50-FPN_1x_det_2fc.yaml`` (``'det_2fc_1x'``), with the
``lib/core/config.py`` defaults for everything the yaml files leave out.
Nothing here imports panet_mmdet, mmdet, mmcv or mmengine.

Model (``build_authors_model``): an ``nn.Module`` tree whose ``state_dict()``
has exactly the keys and shapes of the authors' ``Generalized_RCNN``
(lib/modeling/model_builder.py) for that yaml, so an authors' checkpoint
``checkpoint['model']`` loads with ``strict=True``. Key counts with 81
classes: mask_2x 273, det_1x 240, det_2fc_1x 237 (key order is the authors'
too). The authors' model holds
no buffers: AffineChannel2d (lib/nn/modules/affine.py) has only weight and
bias, GroupNorm has no running stats, and the anchors of GenerateProposalsOp
are a plain numpy attribute; so parameters are the whole state.

Where each function comes from (all paths in the authors' repository):
  get_image_blob ........... lib/utils/blob.py (get_image_blob,
                             prep_im_for_blob, im_list_to_blob, get_max_shape,
                             get_target_scale)
  conv_body ................ lib/modeling/FPN.py fpn.forward (panet_buttomup,
                             USE_GN) over ResNet.py ResNet50_conv5_body
  rpn_outputs .............. FPN.py fpn_rpn_outputs.forward,
                             generate_anchors.py, generate_proposals.py forward
  rpn_proposals ............ generate_proposals.py proposals_for_one_image and
                             _filter_boxes; collect_and_distribute_fpn_rpn_
                             proposals.py collect
  roi_align_legacy ......... lib/modeling/roi_xfrom/roi_align/src/
                             roi_align_kernel.cu ROIAlignForward
  box_head ................. model_builder.py
                             roi_feature_transform(panet=True);
                             fast_rcnn_heads.py roi_Xconv1fc_gn_head_panet /
                             roi_2mlp_head_gn_panet, fast_rcnn_outputs
  mask_head ................ mask_rcnn_heads.py mask_rcnn_fcn_head_
                             v1upXconvs_gn_adp_ff, mask_rcnn_outputs
  im_detect_bbox, box_results_with_nms_and_limit, im_detect_mask,
  segm_results, im_detect_all .. lib/core/test.py
  nms, bbox_transform, clip_tiled_boxes, expand_boxes .. lib/utils/boxes.py,
                             lib/utils/cython_nms.pyx

Numerics: the network runs in the dtype of the model (``model.double()``
gives float64 end to end); numpy post-processing keeps that dtype, except
where the authors cast explicitly: detections are cast to float32 before the
per-class NMS (box_results_with_nms_and_limit), mask RoIs are float32
(_get_rois_blob) and the padded mask resized by cv2 is float32 (segm_results).
"""
import math
from collections import OrderedDict

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = ('mask_2x', 'det_1x', 'det_2fc_1x')

# lib/core/config.py defaults and the TEST section of the three yaml files.
PIXEL_MEANS = np.array([[[102.9801, 115.9465, 122.7717]]])
COARSEST_STRIDE = 32
RPN_LEVELS = (2, 3, 4, 5, 6)
ROI_LEVELS = (2, 3, 4, 5)
RPN_ANCHOR_START_SIZE = 32
RPN_ASPECT_RATIOS = (0.5, 1, 2)
BBOX_REG_WEIGHTS = (10., 10., 5., 5.)
BBOX_XFORM_CLIP = math.log(1000. / 16.)
GN_GROUPS, GN_EPS = 32, 1e-5
BOX_RESOLUTION, MASK_ROI_RESOLUTION, SAMPLING_RATIO = 7, 14, 2
MASK_RESOLUTION = 28
THRESH_BINARIZE = 0.5

# --------------------------------------------------------------------------- #
# Modules (attribute names and Sequential indices as in the authors' code)
# --------------------------------------------------------------------------- #


class AffineChannel2d(nn.Module):
    """lib/nn/modules/affine.py: frozen BN as a per-channel affine map."""

    def __init__(self, num_features):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def _gn(c):
    return nn.GroupNorm(GN_GROUPS, c, eps=GN_EPS)


def _conv_gn_relu(cin, cout, stride=1, bias=False):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=bias), _gn(cout), nn.ReLU())


class Bottleneck(nn.Module):
    """ResNet.py bottleneck_transformation with STRIDE_1X1=True."""

    def __init__(self, inplanes, outplanes, innerplanes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, innerplanes, 1, stride, bias=False)
        self.bn1 = AffineChannel2d(innerplanes)
        self.conv2 = nn.Conv2d(innerplanes, innerplanes, 3, 1, 1, bias=False)
        self.bn2 = AffineChannel2d(innerplanes)
        self.conv3 = nn.Conv2d(innerplanes, outplanes, 1, 1, bias=False)
        self.bn3 = AffineChannel2d(outplanes)
        self.downsample = None
        if stride != 1 or inplanes != outplanes:  # basic_bn_shortcut
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, outplanes, 1, stride, bias=False),
                AffineChannel2d(outplanes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return F.relu(out + residual)


class ResNet50Body(nn.Module):
    """ResNet.py ResNet_convX_body((3, 4, 6, 3)) with basic_bn_stem."""

    def __init__(self):
        super().__init__()
        self.res1 = nn.Sequential(
            OrderedDict([
                ('conv1', nn.Conv2d(3, 64, 7, stride=2, padding=3,
                                    bias=False)), ('bn1', AffineChannel2d(64)),
                ('relu', nn.ReLU()),
                ('maxpool', nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
            ]))
        dim_in = 64
        for i, (n, dim_out, stride) in enumerate([(3, 256, 1), (4, 512, 2),
                                                  (6, 1024, 2), (3, 2048, 2)]):
            blocks = []
            for b in range(n):
                blocks.append(
                    Bottleneck(dim_in, dim_out, dim_out // 4,
                               stride if b == 0 else 1))
                dim_in = dim_out
            setattr(self, 'res%d' % (i + 2), nn.Sequential(*blocks))


class TopdownLateral(nn.Module):
    """FPN.py topdown_lateral_module with USE_GN."""

    def __init__(self, dim_lateral, dim=256):
        super().__init__()
        self.conv_lateral = nn.Sequential(
            nn.Conv2d(dim_lateral, dim, 1, 1, 0, bias=False), _gn(dim))


class FPNBottomUp(nn.Module):
    """FPN.py fpn(ResNet50_conv5_body, panet_buttomup=True) with USE_GN."""

    def __init__(self, dim=256):
        super().__init__()
        self.conv_top = nn.Sequential(
            nn.Conv2d(2048, dim, 1, 1, 0, bias=False), _gn(dim))
        self.topdown_lateral_modules = nn.ModuleList(
            TopdownLateral(c, dim) for c in (1024, 512, 256))
        self.posthoc_modules = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), _gn(dim))
            for _ in range(4))
        self.panet_buttomup_conv1_modules = nn.ModuleList(
            _conv_gn_relu(dim, dim, stride=2, bias=True) for _ in range(3))
        self.panet_buttomup_conv2_modules = nn.ModuleList(
            _conv_gn_relu(dim, dim, stride=1, bias=True) for _ in range(3))
        self.maxpool_p6 = nn.MaxPool2d(kernel_size=1, stride=2, padding=0)
        self.conv_body = ResNet50Body()


class FPNRPN(nn.Module):
    """FPN.py fpn_rpn_outputs (sigmoid objectness, 3 anchors per location)."""

    def __init__(self, dim=256, num_anchors=3):
        super().__init__()
        self.FPN_RPN_conv = nn.Conv2d(dim, dim, 3, 1, 1)
        self.FPN_RPN_cls_score = nn.Conv2d(dim, num_anchors, 1, 1, 0)
        self.FPN_RPN_bbox_pred = nn.Conv2d(dim, 4 * num_anchors, 1, 1, 0)


class BoxHeadXconv1fcPANet(nn.Module):
    """fast_rcnn_heads.py roi_Xconv1fc_gn_head_panet (NUM_STACKED_CONVS=4)."""

    def __init__(self, dim=256, hidden=256, fc_dim=1024):
        super().__init__()
        self.convs = nn.Sequential(
            *[m for _ in range(3) for m in _conv_gn_relu(hidden, hidden)])
        self.fc = nn.Linear(hidden * BOX_RESOLUTION**2, fc_dim)
        self.conv1_head = nn.ModuleList(
            _conv_gn_relu(dim, hidden) for _ in ROI_LEVELS)


class BoxHead2mlpPANet(nn.Module):
    """fast_rcnn_heads.py roi_2mlp_head_gn_panet (MLP_HEAD_DIM=1024)."""

    def __init__(self, dim=256, hidden=1024):
        super().__init__()
        self.fc1 = nn.ModuleList(
            nn.Sequential(
                nn.Linear(dim *
                          BOX_RESOLUTION**2, hidden), _gn(hidden), nn.ReLU())
            for _ in ROI_LEVELS)
        self.fc2 = nn.Sequential(
            nn.Linear(hidden, hidden), _gn(hidden), nn.ReLU())


class FastRCNNOutputs(nn.Module):
    """fast_rcnn_heads.py fast_rcnn_outputs (class-specific regression)."""

    def __init__(self, dim_in, num_classes):
        super().__init__()
        self.cls_score = nn.Linear(dim_in, num_classes)
        self.bbox_pred = nn.Linear(dim_in, 4 * num_classes)


class MaskHeadAdpFF(nn.Module):
    """mask_rcnn_heads.py mask_rcnn_fcn_head_v1upXconvs_gn_adp_ff
    (DIM_REDUCED=256)."""

    def __init__(self, dim=256):
        super().__init__()
        self.conv_fcn = nn.Sequential(
            *[m for _ in range(2) for m in _conv_gn_relu(dim, dim)])
        self.mask_conv1 = nn.ModuleList(
            _conv_gn_relu(dim, dim) for _ in ROI_LEVELS)
        self.mask_conv4 = _conv_gn_relu(dim, dim)
        self.mask_conv4_fc = _conv_gn_relu(dim, dim)
        # GroupNorm(get_group_gn(256)=32, 128) as written by the authors.
        self.mask_conv5_fc = nn.Sequential(
            nn.Conv2d(dim, dim // 2, 3, 1, 1, bias=False),
            nn.GroupNorm(GN_GROUPS, dim // 2, eps=GN_EPS), nn.ReLU())
        self.mask_fc = nn.Sequential(
            nn.Linear(dim // 2 * MASK_ROI_RESOLUTION**2, MASK_RESOLUTION**2),
            nn.ReLU())
        self.upconv = nn.ConvTranspose2d(dim, dim, 2, 2, 0)


class MaskOutputs(nn.Module):
    """mask_rcnn_heads.py mask_rcnn_outputs (conv output,
    CLS_SPECIFIC_MASK)."""

    def __init__(self, dim_in, num_classes):
        super().__init__()
        self.classify = nn.Conv2d(dim_in, num_classes, 1, 1, 0)


class AuthorsPANet(nn.Module):
    """Container with the submodule names of model_builder.Generalized_RCNN."""

    def __init__(self, variant, num_classes=81):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError('variant must be one of %s' % (VARIANTS, ))
        self.variant, self.num_classes = variant, num_classes
        self.Conv_Body = FPNBottomUp()
        self.RPN = FPNRPN()
        if variant == 'det_2fc_1x':
            self.Box_Head = BoxHead2mlpPANet()
        else:
            self.Box_Head = BoxHeadXconv1fcPANet()
        self.Box_Outs = FastRCNNOutputs(1024, num_classes)
        self.mask_on = variant == 'mask_2x'
        if self.mask_on:
            self.Mask_Head = MaskHeadAdpFF()
            self.Mask_Outs = MaskOutputs(256, num_classes)


def build_authors_model(variant, num_classes=81):
    """Generalized_RCNN for the variant's yaml, in eval mode."""
    return AuthorsPANet(variant, num_classes).eval()


def authors_state_dict_keys(variant, num_classes=81):
    """{state_dict key: shape tuple} of the authors' model for the variant."""
    model = build_authors_model(variant, num_classes)
    return OrderedDict(
        (k, tuple(v.shape)) for k, v in model.state_dict().items())


def randomize_(model, seed):
    """Fill every parameter with seeded random values that keep float64
    activations O(1) through the whole network (not the authors' init).

    Convs/linears: N(0, gain^2 / fan_in), gain sqrt(2) (He) by default; the
    stem divides by 64 for the 0..255 pixel range and the last conv of each
    residual branch (and the shortcut) use 1/2 so the residual sums stay O(1).
    AffineChannel2d/GroupNorm scales U(0.5, 1.5), biases U(-0.2, 0.2); other
    biases U(-0.1, 0.1). Output layers get larger gains; on a real photo this
    gives RPN logits std ~3, RPN deltas std ~0.4, class logits std ~1.8, box
    deltas std ~1.9 and mask logits std ~3 with ~45% positive (the mask
    classifier bias is U(-1.5, -0.5) to offset the ReLU'd fc path).
    """
    gen = torch.Generator().manual_seed(seed)

    def fill(p, sampler):
        p.data.copy_(sampler(p.shape))

    def normal(std):
        return lambda s: torch.randn(
            s, generator=gen, dtype=torch.float64) * std

    def uniform(lo, hi):
        return lambda s: torch.rand(
            s, generator=gen, dtype=torch.float64) * (hi - lo) + lo

    gains = {
        'Conv_Body.conv_body.res1.conv1': math.sqrt(2) / 64,
        'RPN.FPN_RPN_cls_score': 3.0,
        'RPN.FPN_RPN_bbox_pred': 0.5,
        'Box_Outs.cls_score': 2.5,
        'Box_Outs.bbox_pred': 2.5,
        'Mask_Head.mask_fc.0': 1.0,
        'Mask_Outs.classify': 4.0
    }
    bias_ranges = {'Mask_Outs.classify': (-1.5, -0.5)}
    for name, m in model.named_modules():
        if isinstance(m, (AffineChannel2d, nn.GroupNorm)):
            fill(m.weight, uniform(0.5, 1.5))
            fill(m.bias, uniform(-0.2, 0.2))
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if isinstance(
                    m, nn.ConvTranspose2d):  # k == stride: one tap per output
                fan_in = m.weight.shape[0]
            else:
                fan_in = m.weight[0].numel()
            gain = gains.get(name, math.sqrt(2))
            if name.endswith('conv3') or name.endswith('downsample.0'):
                gain = 0.5
            fill(m.weight, normal(gain / math.sqrt(fan_in)))
            if m.bias is not None:
                fill(m.bias, uniform(*bias_ranges.get(name, (-0.1, 0.1))))
    return model


# --------------------------------------------------------------------------- #
# Box utilities (lib/utils/boxes.py, lib/utils/cython_nms.pyx)
# --------------------------------------------------------------------------- #


def nms(dets, thresh):
    """cython_nms.nms: greedy NMS, areas with +1, suppress when IoU >= thresh,
    computed in dets' dtype; returns kept indices in ascending index order."""
    if dets.shape[0] == 0:
        return []
    dt = dets.dtype.type
    x1, y1, x2, y2, scores = (dets[:, k] for k in range(5))
    one, zero, thresh = dt(1), dt(0), dt(thresh)
    areas = (x2 - x1 + one) * (y2 - y1 + one)
    order = scores.argsort()[::-1]
    suppressed = np.zeros(dets.shape[0], dtype=bool)
    for _i, i in enumerate(order):
        if suppressed[i]:
            continue
        rest = order[_i + 1:]
        w = np.maximum(
            zero,
            np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + one)
        h = np.maximum(
            zero,
            np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + one)
        inter = w * h
        ovr = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[ovr >= thresh]] = True
    return np.where(~suppressed)[0]


def bbox_transform(boxes, deltas, weights=(1.0, 1.0, 1.0, 1.0)):
    """boxes.bbox_transform (the legacy +1 box convention)."""
    if boxes.shape[0] == 0:
        return np.zeros((0, deltas.shape[1]), dtype=deltas.dtype)
    boxes = boxes.astype(deltas.dtype, copy=False)
    widths = boxes[:, 2] - boxes[:, 0] + 1.0
    heights = boxes[:, 3] - boxes[:, 1] + 1.0
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = np.minimum(deltas[:, 2::4] / ww, BBOX_XFORM_CLIP)
    dh = np.minimum(deltas[:, 3::4] / wh, BBOX_XFORM_CLIP)
    pred_ctr_x = dx * widths[:, np.newaxis] + ctr_x[:, np.newaxis]
    pred_ctr_y = dy * heights[:, np.newaxis] + ctr_y[:, np.newaxis]
    pred_w = np.exp(dw) * widths[:, np.newaxis]
    pred_h = np.exp(dh) * heights[:, np.newaxis]
    pred_boxes = np.zeros(deltas.shape, dtype=deltas.dtype)
    pred_boxes[:, 0::4] = pred_ctr_x - 0.5 * pred_w
    pred_boxes[:, 1::4] = pred_ctr_y - 0.5 * pred_h
    pred_boxes[:, 2::4] = pred_ctr_x + 0.5 * pred_w - 1
    pred_boxes[:, 3::4] = pred_ctr_y + 0.5 * pred_h - 1
    return pred_boxes


def clip_tiled_boxes(boxes, im_shape):
    """boxes.clip_tiled_boxes: clip (N, 4k) boxes in place to [0, W-1] x
    [0, H-1]."""
    for k, lim in ((0, im_shape[1]), (1, im_shape[0]), (2, im_shape[1]),
                   (3, im_shape[0])):
        boxes[:, k::4] = np.maximum(np.minimum(boxes[:, k::4], lim - 1), 0)
    return boxes


def expand_boxes(boxes, scale):
    """boxes.expand_boxes (returns float64, as np.zeros does there)."""
    w_half = (boxes[:, 2] - boxes[:, 0]) * .5 * scale
    h_half = (boxes[:, 3] - boxes[:, 1]) * .5 * scale
    x_c = (boxes[:, 2] + boxes[:, 0]) * .5
    y_c = (boxes[:, 3] + boxes[:, 1]) * .5
    boxes_exp = np.zeros(boxes.shape)
    boxes_exp[:, 0] = x_c - w_half
    boxes_exp[:, 2] = x_c + w_half
    boxes_exp[:, 1] = y_c - h_half
    boxes_exp[:, 3] = y_c + h_half
    return boxes_exp


# --------------------------------------------------------------------------- #
# Input blob (lib/utils/blob.py)
# --------------------------------------------------------------------------- #


def get_target_scale(im_size_min, im_size_max, target_size, max_size):
    im_scale = float(target_size) / float(im_size_min)
    if np.round(im_scale * im_size_max) > max_size:
        im_scale = float(max_size) / float(im_size_max)
    return im_scale


def get_image_blob(im_bgr_uint8, target_scale=1000, max_size=1400):
    """-> (blob float32 (1, 3, H, W) padded to x32, im_scale,
    im_info (1, 3) float32)."""
    im = im_bgr_uint8.astype(np.float32, copy=True)
    im -= PIXEL_MEANS
    im_scale = get_target_scale(
        np.min(im.shape[:2]), np.max(im.shape[:2]), target_scale, max_size)
    im = cv2.resize(
        im,
        None,
        None,
        fx=im_scale,
        fy=im_scale,
        interpolation=cv2.INTER_LINEAR)
    stride = float(COARSEST_STRIDE)
    h = int(np.ceil(im.shape[0] / stride) * stride)
    w = int(np.ceil(im.shape[1] / stride) * stride)
    blob = np.zeros((1, h, w, 3), dtype=np.float32)
    blob[0, :im.shape[0], :im.shape[1], :] = im
    blob = blob.transpose(0, 3, 1, 2)
    im_info = np.hstack((h, w, im_scale))[np.newaxis, :].astype(np.float32)
    return blob, im_scale, im_info


# --------------------------------------------------------------------------- #
# Backbone + bottom-up FPN (lib/modeling/FPN.py fpn.forward)
# --------------------------------------------------------------------------- #


def _param_like(model):
    p = next(model.parameters())
    return dict(dtype=p.dtype, device=p.device)


@torch.no_grad()
def conv_body(model, blob):
    """-> [P6, N5, N4, N3, N2] (coarsest first), the authors' blob_conv."""
    body = model.Conv_Body
    x = torch.as_tensor(blob).to(**_param_like(model))
    res = [body.conv_body.res1(x)]
    for i in range(2, 6):
        res.append(getattr(body.conv_body, 'res%d' % i)(res[-1]))
    inner = [body.conv_top(res[-1])]
    for i, m in enumerate(body.topdown_lateral_modules):
        lat = m.conv_lateral(res[-(i + 2)])
        inner.append(lat +
                     F.interpolate(inner[-1], scale_factor=2, mode='nearest'))
    middle = [m(t)
              for m, t in zip(body.posthoc_modules, inner)]  # [P5, P4, P3, P2]
    out = [middle[-1]]  # N2 = P2
    for i in range(2, 5):
        t = body.panet_buttomup_conv1_modules[i - 2](out[0]) + middle[4 - i]
        out.insert(0, body.panet_buttomup_conv2_modules[i - 2](t))
    out.insert(0, body.maxpool_p6(out[0]))
    return out


# --------------------------------------------------------------------------- #
# RPN (FPN.py fpn_rpn_outputs, generate_anchors.py, generate_proposals.py,
# collect_and_distribute_fpn_rpn_proposals.py)
# --------------------------------------------------------------------------- #


def generate_anchors(stride, sizes, aspect_ratios):
    """generate_anchors.generate_anchors: (A, 4) anchors centred on
    stride / 2."""

    def whctrs(a):
        w, h = a[2] - a[0] + 1, a[3] - a[1] + 1
        return w, h, a[0] + 0.5 * (w - 1), a[1] + 0.5 * (h - 1)

    def mkanchors(ws, hs, x_ctr, y_ctr):
        ws, hs = ws[:, np.newaxis], hs[:, np.newaxis]
        return np.hstack((x_ctr - 0.5 * (ws - 1), y_ctr - 0.5 * (hs - 1),
                          x_ctr + 0.5 * (ws - 1), y_ctr + 0.5 * (hs - 1)))

    scales = np.array(sizes, dtype=np.float64) / stride
    ratios = np.array(aspect_ratios, dtype=np.float64)
    w, h, x_ctr, y_ctr = whctrs(
        np.array([1, 1, stride, stride], dtype=np.float64) - 1)
    ws = np.round(np.sqrt(w * h / ratios))
    ratio_anchors = mkanchors(ws, np.round(ws * ratios), x_ctr, y_ctr)
    out = []
    for a in ratio_anchors:
        w, h, x_ctr, y_ctr = whctrs(a)
        out.append(mkanchors(w * scales, h * scales, x_ctr, y_ctr))
    return np.vstack(out)


def _all_anchors(lvl, height, width):
    """GenerateProposalsOp.forward: cell anchors shifted over the (H, W) grid,
    (H * W * A, 4) ordered (H, W, A)."""
    stride = 2.**lvl
    anchors = generate_anchors(
        stride, (RPN_ANCHOR_START_SIZE * 2.**(lvl - RPN_LEVELS[0]), ),
        RPN_ASPECT_RATIOS)
    shift_x, shift_y = np.meshgrid(
        np.arange(0, width) * stride,
        np.arange(0, height) * stride,
        copy=False)
    shifts = np.vstack(
        (shift_x.ravel(), shift_y.ravel(), shift_x.ravel(), shift_y.ravel())).T
    return (anchors[np.newaxis, :, :] + shifts[:, np.newaxis, :]).reshape(
        -1, 4)


@torch.no_grad()
def rpn_outputs(model, blobs):
    """-> {lvl: {'cls_prob' (1, A, H, W) sigmoid, 'bbox_pred' (1, 4A, H, W),
    'anchors' (H * W * A, 4) ndarray}} for lvl 2..6; blobs as conv_body."""
    rpn = model.RPN
    out = {}
    for lvl in RPN_LEVELS:
        x = F.relu(rpn.FPN_RPN_conv(blobs[RPN_LEVELS[-1] - lvl]))
        cls_prob = torch.sigmoid(rpn.FPN_RPN_cls_score(x))
        out[lvl] = dict(
            cls_prob=cls_prob,
            bbox_pred=rpn.FPN_RPN_bbox_pred(x),
            anchors=_all_anchors(lvl, *cls_prob.shape[-2:]))
    return out


def _filter_boxes(boxes, min_size, im_info):
    """generate_proposals._filter_boxes."""
    min_size *= im_info[2]
    ws = boxes[:, 2] - boxes[:, 0] + 1
    hs = boxes[:, 3] - boxes[:, 1] + 1
    x_ctr = boxes[:, 0] + ws / 2.
    y_ctr = boxes[:, 1] + hs / 2.
    return np.where((ws >= min_size) & (hs >= min_size) & (x_ctr < im_info[1])
                    & (y_ctr < im_info[0]))[0]


def proposals_for_one_image(im_info,
                            all_anchors,
                            bbox_deltas,
                            scores,
                            pre_nms_top_n=1000,
                            post_nms_top_n=1000,
                            nms_thresh=0.7,
                            min_size=0):
    """GenerateProposalsOp.proposals_for_one_image (TEST settings of the yaml).
    bbox_deltas (4A, H, W), scores (A, H, W) ndarrays
    -> (proposals, scores (n, 1))."""
    bbox_deltas = bbox_deltas.transpose((1, 2, 0)).reshape((-1, 4))
    scores = scores.transpose((1, 2, 0)).reshape((-1, 1))
    if pre_nms_top_n <= 0 or pre_nms_top_n >= len(scores):
        order = np.argsort(-scores.squeeze())
    else:
        inds = np.argpartition(-scores.squeeze(),
                               pre_nms_top_n)[:pre_nms_top_n]
        order = inds[np.argsort(-scores[inds].squeeze())]
    bbox_deltas, all_anchors, scores = bbox_deltas[order, :], all_anchors[
        order, :], scores[order]
    proposals = bbox_transform(all_anchors, bbox_deltas, (1.0, 1.0, 1.0, 1.0))
    proposals = clip_tiled_boxes(proposals, im_info[:2])
    keep = _filter_boxes(proposals, min_size, im_info)
    proposals, scores = proposals[keep, :], scores[keep]
    if nms_thresh > 0:
        keep = nms(np.hstack((proposals, scores)), nms_thresh)
        if post_nms_top_n > 0:
            keep = keep[:post_nms_top_n]
        proposals, scores = proposals[keep, :], scores[keep]
    return proposals, scores


def rpn_proposals(model,
                  blobs,
                  im_info,
                  pre_nms_top_n=1000,
                  post_nms_top_n=1000,
                  nms_thresh=0.7,
                  min_size=0):
    """Per-level proposals then collect's global top post_nms_top_n by score.
    -> (rois (R, 5) [batch_idx, x1, y1, x2, y2], scores (R,)) in the network
    input space, ordered by descending score."""
    outs = rpn_outputs(model, blobs)
    rois_l, scores_l = [], []
    for lvl in RPN_LEVELS:
        o = outs[lvl]
        boxes, probs = proposals_for_one_image(im_info[0], o['anchors'],
                                               o['bbox_pred'][0].cpu().numpy(),
                                               o['cls_prob'][0].cpu().numpy(),
                                               pre_nms_top_n, post_nms_top_n,
                                               nms_thresh, min_size)
        rois_l.append(
            np.hstack((np.zeros((boxes.shape[0], 1),
                                dtype=np.float32), boxes)))
        scores_l.append(probs)
    rois = np.concatenate(rois_l)
    scores = np.concatenate(scores_l).squeeze(1)
    inds = np.argsort(-scores)[:int(post_nms_top_n +
                                    0.5)]  # RPN_COLLECT_SCALE = 1
    return rois[inds, :], scores[inds]


# --------------------------------------------------------------------------- #
# RoIAlign (roi_xfrom/roi_align/src/roi_align_kernel.cu, caffe2 legacy)
# --------------------------------------------------------------------------- #


def _bilinear(flat, base, height, width, y, x):
    """bilinear_interpolate of the kernel for y (R, PH) x x (R, PW) sample
    points of each RoI; flat is the (N * H * W, C) feature
    -> (R, PH, PW, C)."""
    shape = (y.shape[0], y.shape[1], x.shape[1])
    y, x = y[:, :, None].expand(shape), x[:, None, :].expand(shape)
    empty = (y < -1.0) | (y > height) | (x < -1.0) | (x > width)

    def axis(v, size):
        v = v.clamp(min=0)
        low = v.long()
        at_end = low >= size - 1
        low = torch.where(at_end, torch.full_like(low, size - 1), low)
        high = torch.where(at_end, low, low + 1)
        v = torch.where(at_end, low.to(v.dtype), v)
        lv = v - low
        return low, high, lv, 1. - lv

    y_low, y_high, ly, hy = axis(y, height)
    x_low, x_high, lx, hx = axis(x, width)
    b = base[:, None, None]
    val = (hy * hx)[..., None] * flat[b + y_low * width + x_low]
    val = val + (hy * lx)[..., None] * flat[b + y_low * width + x_high]
    val = val + (ly * hx)[..., None] * flat[b + y_high * width + x_low]
    val = val + (ly * lx)[..., None] * flat[b + y_high * width + x_high]
    return torch.where(empty[..., None], torch.zeros_like(val), val)


def roi_align_legacy(feat,
                     rois,
                     output_size,
                     spatial_scale,
                     sampling_ratio,
                     chunk=256):
    """RoIAlign without the half-pixel offset (aligned=False): RoI corners
    x * spatial_scale, roi size max(x2*s - x1*s, 1), a sampling_ratio x
    sampling_ratio grid per bin averaged, caffe2 boundary rules.
    feat (N, C, H, W); rois (R, 5) [batch_idx, x1, y1, x2, y2]
    -> (R, C, PH, PW)."""
    if sampling_ratio <= 0:
        raise NotImplementedError(
            'adaptive sampling is not used by the PANet configs')
    ph, pw = (output_size,
              output_size) if isinstance(output_size, int) else output_size
    rois = torch.as_tensor(rois).to(dtype=feat.dtype, device=feat.device)
    n, c, height, width = feat.shape
    flat = feat.permute(0, 2, 3, 1).reshape(n * height * width, c)
    g = sampling_ratio
    out = []
    for r in rois.split(chunk):
        base = r[:, 0].long() * (height * width)
        start_w, start_h = r[:, 1] * spatial_scale, r[:, 2] * spatial_scale
        end_w, end_h = r[:, 3] * spatial_scale, r[:, 4] * spatial_scale
        bin_h = torch.clamp(end_h - start_h, min=1.0)[:, None] / ph
        bin_w = torch.clamp(end_w - start_w, min=1.0)[:, None] / pw
        cell_y = start_h[:, None] + torch.arange(
            ph, dtype=feat.dtype, device=feat.device) * bin_h
        cell_x = start_w[:, None] + torch.arange(
            pw, dtype=feat.dtype, device=feat.device) * bin_w
        acc = torch.zeros((r.shape[0], ph, pw, c),
                          dtype=feat.dtype,
                          device=feat.device)
        for iy in range(g):
            y = cell_y + (iy + .5) * bin_h / g
            for ix in range(g):
                acc = acc + _bilinear(flat, base, height, width, y, cell_x +
                                      (ix + .5) * bin_w / g)
        out.append((acc / float(g * g)).permute(0, 3, 1, 2))
    return torch.cat(out).contiguous()


def _pool_all_levels(blobs_roi_levels, rois, resolution):
    """roi_feature_transform(panet=True): every RoI pooled on every level,
    returned finest first [N2, N3, N4, N5]; blobs_roi_levels is
    [N5, ..., N2]."""
    return [
        roi_align_legacy(blobs_roi_levels[ROI_LEVELS[-1] - lvl], rois,
                         resolution, 1. / 2**lvl, SAMPLING_RATIO)
        for lvl in ROI_LEVELS
    ]


# --------------------------------------------------------------------------- #
# Heads
# --------------------------------------------------------------------------- #


@torch.no_grad()
def box_head(model, blobs_roi_levels, rois):
    """Box_Head + Box_Outs at test time
    -> (cls_prob (R, K) softmax, bbox_pred (R, 4K)).
    blobs_roi_levels: [N5, N4, N3, N2]; rois (R, 5) in the network input
    space."""
    head = model.Box_Head
    x = _pool_all_levels(blobs_roi_levels, rois, BOX_RESOLUTION)
    if isinstance(head, BoxHead2mlpPANet):
        x = [m(t.reshape(t.shape[0], -1)) for m, t in zip(head.fc1, x)]
        feat = head.fc2(torch.stack(x).amax(0))
    else:
        x = [m(t) for m, t in zip(head.conv1_head, x)]
        feat = head.convs(torch.stack(x).amax(0))
        feat = F.relu(head.fc(feat.reshape(feat.shape[0], -1)))
    return F.softmax(
        model.Box_Outs.cls_score(feat), dim=1), model.Box_Outs.bbox_pred(feat)


@torch.no_grad()
def mask_head(model, blobs_roi_levels, mask_rois):
    """Mask_Head + Mask_Outs at test time -> mask probabilities
    (R, K, 28, 28)."""
    head = model.Mask_Head
    x = [
        m(t) for m, t in zip(
            head.mask_conv1,
            _pool_all_levels(blobs_roi_levels, mask_rois, MASK_ROI_RESOLUTION))
    ]
    x = head.conv_fcn(torch.stack(x).amax(0))
    x_fcn = F.relu(head.upconv(head.mask_conv4(x)))
    x_ff = head.mask_fc(
        head.mask_conv5_fc(head.mask_conv4_fc(x)).reshape(x.shape[0], -1))
    logits = model.Mask_Outs.classify(x_fcn) + x_ff.view(
        -1, 1, MASK_RESOLUTION, MASK_RESOLUTION)
    return torch.sigmoid(logits)


# --------------------------------------------------------------------------- #
# lib/core/test.py
# --------------------------------------------------------------------------- #


def im_detect_bbox(model, im_bgr_uint8, target_scale=1000, max_size=1400):
    """-> (scores (R, K), pred_boxes (R, 4K) in original image space, im_scale,
    blobs_roi_levels [N5, N4, N3, N2])."""
    blob, im_scale, im_info = get_image_blob(im_bgr_uint8, target_scale,
                                             max_size)
    blobs = conv_body(model, blob)
    rois, _ = rpn_proposals(model, blobs, im_info)
    blobs_roi_levels = blobs[-len(ROI_LEVELS):]
    cls_prob, bbox_pred = box_head(model, blobs_roi_levels, rois)
    boxes = rois[:, 1:5] / np.array([im_scale
                                     ])  # im_scale is a 1-element list there
    scores = cls_prob.cpu().numpy().squeeze()
    scores = scores.reshape([-1, scores.shape[-1]])
    box_deltas = bbox_pred.cpu().numpy().squeeze()
    box_deltas = box_deltas.reshape([-1, box_deltas.shape[-1]])
    pred_boxes = bbox_transform(boxes, box_deltas, BBOX_REG_WEIGHTS)
    pred_boxes = clip_tiled_boxes(pred_boxes, im_bgr_uint8.shape)
    return scores, pred_boxes, im_scale, blobs_roi_levels


def box_results_with_nms_and_limit(scores,
                                   boxes,
                                   score_thresh=0.05,
                                   nms_thresh=0.5,
                                   detections_per_im=100):
    """Per-class score > thresh and NMS (float32 dets), then keep scores >= the
    detections_per_im-th best over all classes.
    -> (scores (D,), boxes (D, 4),
        cls_boxes: per class (n, 5) [x1 y1 x2 y2 s])."""
    num_classes = scores.shape[1]
    cls_boxes = [[] for _ in range(num_classes)]
    for j in range(1, num_classes):
        inds = np.where(scores[:, j] > score_thresh)[0]
        dets_j = np.hstack(
            (boxes[inds, j * 4:(j + 1) * 4], scores[inds, j][:, np.newaxis]))
        dets_j = dets_j.astype(np.float32, copy=False)
        cls_boxes[j] = dets_j[nms(dets_j, nms_thresh), :]
    if detections_per_im > 0:
        image_scores = np.hstack(
            [cls_boxes[j][:, -1] for j in range(1, num_classes)])
        if len(image_scores) > detections_per_im:
            image_thresh = np.sort(image_scores)[-detections_per_im]
            for j in range(1, num_classes):
                cls_boxes[j] = cls_boxes[j][np.where(
                    cls_boxes[j][:, -1] >= image_thresh)[0], :]
    im_results = np.vstack([cls_boxes[j] for j in range(1, num_classes)])
    return im_results[:, -1], im_results[:, :-1], cls_boxes


def _get_rois_blob(im_rois, im_scale):
    """test._get_rois_blob: [0, boxes * im_scale] as float32."""
    rois = im_rois.astype(np.float64, copy=False) * im_scale
    levels = np.zeros((im_rois.shape[0], 1), dtype=np.int64)
    return np.hstack((levels, rois)).astype(np.float32, copy=False)


def im_detect_mask(model, im_scale, boxes, blobs_roi_levels):
    """-> soft masks (R, K, 28, 28) for boxes (R, 4) in original image
    space."""
    if boxes.shape[0] == 0:
        return np.zeros((0, MASK_RESOLUTION, MASK_RESOLUTION), np.float32)
    mask_rois = _get_rois_blob(boxes, im_scale)
    pred_masks = mask_head(model, blobs_roi_levels,
                           mask_rois).cpu().numpy().squeeze()
    return pred_masks.reshape(
        [-1, model.num_classes, MASK_RESOLUTION, MASK_RESOLUTION])


def segm_results(cls_boxes, masks, ref_boxes, im_h, im_w):
    """test.segm_results, returning per class the list of binary uint8
    (im_h, im_w) masks instead of their RLE."""
    num_classes = len(cls_boxes)
    cls_segms = [[] for _ in range(num_classes)]
    mask_ind = 0
    m = MASK_RESOLUTION
    ref_boxes = expand_boxes(ref_boxes, (m + 2.0) / m).astype(np.int32)
    padded_mask = np.zeros((m + 2, m + 2), dtype=np.float32)
    for j in range(1, num_classes):
        segms = []
        for _ in range(cls_boxes[j].shape[0]):
            padded_mask[1:-1, 1:-1] = masks[mask_ind, j, :, :]
            ref_box = ref_boxes[mask_ind, :]
            w = max(int(ref_box[2] - ref_box[0] + 1), 1)
            h = max(int(ref_box[3] - ref_box[1] + 1), 1)
            mask = np.array(
                cv2.resize(padded_mask, (w, h)) > THRESH_BINARIZE,
                dtype=np.uint8)
            im_mask = np.zeros((im_h, im_w), dtype=np.uint8)
            x_0, x_1 = max(ref_box[0], 0), min(ref_box[2] + 1, im_w)
            y_0, y_1 = max(ref_box[1], 0), min(ref_box[3] + 1, im_h)
            im_mask[y_0:y_1,
                    x_0:x_1] = mask[(y_0 - ref_box[1]):(y_1 - ref_box[1]),
                                    (x_0 - ref_box[0]):(x_1 - ref_box[0])]
            segms.append(im_mask)
            mask_ind += 1
        cls_segms[j] = segms
    assert mask_ind == masks.shape[0]
    return cls_segms


def im_detect_all(model, im_bgr_uint8, target_scale=1000, max_size=1400):
    """-> (cls_boxes, cls_segms); cls_segms is None for the det variants or
    when nothing is detected, as in test.im_detect_all."""
    scores, boxes, im_scale, blobs_roi_levels = im_detect_bbox(
        model, im_bgr_uint8, target_scale, max_size)
    scores, boxes, cls_boxes = box_results_with_nms_and_limit(scores, boxes)
    cls_segms = None
    if model.mask_on and boxes.shape[0] > 0:
        masks = im_detect_mask(model, im_scale, boxes, blobs_roi_levels)
        cls_segms = segm_results(cls_boxes, masks, boxes,
                                 im_bgr_uint8.shape[0], im_bgr_uint8.shape[1])
    return cls_boxes, cls_segms
