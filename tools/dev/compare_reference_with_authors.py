"""Compare tests/reference/authors_panet.py with the PANet authors' own code.

The parity tests (tests/test_official_parity.py) trust the plain-PyTorch
re-implementation in tests/reference/authors_panet.py. This script repeats
the check of that reference against the authors' code itself: it imports
their ``lib/`` (ShuLiu1993/PANet, built on Detectron.pytorch), builds their
``Generalized_RCNN`` from their yaml files, gives it the reference model's
random weights, runs both on the same image and prints the largest
difference per part.

Usage (from the root of this repository)::

    git clone https://github.com/ShuLiu1993/PANet /path/to/PANet
    # (the comparison was written against commit f055f716)
    .venv/bin/python tools/dev/compare_reference_with_authors.py \\
        /path/to/PANet [--seed 0] [--variants mask_2x det_1x det_2fc_1x] \\
        [--scale 256 --max-size 400] [--image IMAGE]

``--scale 1000 --max-size 1400`` is the yaml's test scale (slower: the
reference's RoIAlign is plain torch). The exit status is 0 when every part
is within its tolerance, 1 when a part is not, 2 when AUTHORS_REPO is not a
checkout of their repository or their code cannot be imported here (the
message names what is missing). Needs torch, numpy, cv2, yaml, six,
packaging, pycocotools, matplotlib (for the default image) and mmcv with
its ops (the RoIAlign stand-in); no GPU.

Parts compared (each with both models' weights identical):

* state dict: the same keys, shapes and key order;
* input blob (their ``utils/blob.py get_image_blob``), exact;
* in float64, relative to max |reference| (``--rtol``): the backbone + FPN
  with the bottom-up path (N2..N5, P6), RPN probabilities and deltas per
  level, cell anchors, the 1000 proposals, box head probabilities and
  deltas (with the adaptive pooling over all levels) and mask head
  probabilities (fc fusion) for the same RoIs;
* end to end in float32, as they run (their ``core/test.py
  im_detect_all``): the same detections per class, boxes within
  ``--box-atol`` px, scores within ``--score-atol``, and the masks (their
  RLE decoded) with at most ``--mask-px`` pixels differing in any mask
  (float32: RoIAlign is mmcv's kernel on their side, the reference's plain
  torch on the other, so the last bits differ).

Shims, needed because their code is written for PyTorch 0.4 with compiled
CUDA extensions (all printed at the start of a run):

* their ``lib/`` goes first on ``sys.path`` (in this process only);
* ``np.float``/``np.int``/``np.bool``/``np.object`` aliases (removed in
  numpy 1.24; their code uses them) and a ``torch._six`` module
  (``string_classes``, ``int_classes``; removed in torch 2.0);
* the yaml is read with ``yaml.safe_load`` and merged with their
  ``merge_cfg_from_cfg`` (their ``yaml.load(f)`` needs a Loader in PyYAML 6);
  ``MODEL.NUM_CLASSES = 81`` (as their tools/test_net.py sets for COCO) and
  no ImageNet weights are loaded;
* ``RoIAlignFunction`` (CUDA only, a torch-0.4 style ``Function``) is
  replaced by mmcv's CPU ``roi_align`` with their settings: no half-pixel
  offset (``aligned=False``), their ``sampling_ratio`` and spatial scale;
  so RoIAlign itself is mmcv's kernel here, not their CUDA kernel;
  ``RoIPoolFunction``/``RoICropFunction`` raise (PANet does not use them);
* ``utils.cython_nms.nms`` is a Python port of their ``cython_nms.pyx``
  (float32 arithmetic for float32 boxes as theirs; it computes in float64
  for the float64 proposals, which their Cython would refuse);
  ``utils.cython_bbox`` raises (training only);
* ``Tensor.cuda`` is the identity while their model runs (their
  ``roi_feature_transform`` moves the RoIs to the features' GPU);
* their ``nn.parallel`` (multi-GPU ``DataParallel``; it imports torch
  0.4's ``numpy_type_map``) is a stub, and ``core/test.py`` gets a
  one-device stand-in (``.module``, list inputs unwrapped, numpy outputs
  made tensors as their gather does).
"""
import argparse
import contextlib
import copy
import importlib.util
import os.path as osp
import sys
import types

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REFERENCE = osp.join(ROOT, 'tests', 'reference', 'authors_panet.py')
YAMLS = {
    'mask_2x': 'configs/panet/e2e_panet_R-50-FPN_2x_mask.yaml',
    'det_1x': 'configs/panet/e2e_panet_R-50-FPN_1x_det.yaml',
    'det_2fc_1x': 'configs/panet/e2e_panet_R-50-FPN_1x_det_2fc.yaml',
}
# what their Generalized_RCNN and core/test.py need from the repository
REQUIRED = (
    'lib/core/config.py',
    'lib/core/test.py',
    'lib/modeling/model_builder.py',
    'lib/modeling/FPN.py',
    'lib/modeling/ResNet.py',
    'lib/modeling/fast_rcnn_heads.py',
    'lib/modeling/mask_rcnn_heads.py',
    'lib/modeling/generate_proposals.py',
    'lib/modeling/collect_and_distribute_fpn_rpn_proposals.py',
    'lib/utils/blob.py',
    'lib/utils/boxes.py',
    'lib/utils/cython_nms.pyx',
    'lib/nn/__init__.py',
) + tuple(YAMLS.values())
# top-level package names of their lib/ that must come from there
THEIR_PACKAGES = ('core', 'modeling', 'model', 'utils', 'nn', 'datasets',
                  'roi_data')


class SetupError(Exception):
    """AUTHORS_REPO is not their repository, or their code cannot be
    imported here."""


def check_repository(path):
    """Raise SetupError naming the files AUTHORS_REPO lacks."""
    if not osp.isdir(path):
        raise SetupError(f'{path!r} is not a directory: give the path of a '
                         'checkout of https://github.com/ShuLiu1993/PANet')
    missing = [f for f in REQUIRED if not osp.isfile(osp.join(path, f))]
    if missing:
        raise SetupError(
            f'{path!r} is not a checkout of ShuLiu1993/PANet (with its '
            'Detectron.pytorch lib/): missing ' + ', '.join(missing))


def load_reference():
    """tests/reference/authors_panet.py, by its file path."""
    spec = importlib.util.spec_from_file_location('authors_panet_reference',
                                                  REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ shims
def cython_nms_port(dets, thresh):
    """lib/utils/cython_nms.pyx ``nms``: greedy over the scores in
    descending ``argsort`` order, areas and overlaps with +1, suppress when
    IoU >= thresh, arithmetic in dets' dtype (theirs is float32, the only
    dtype their Cython accepts). Their inner loop over j, one box at a
    time, is done here for all j at once: each j's test reads only box i and
    box j, so the result is the same."""
    dt = dets.dtype.type
    x1, y1, x2, y2, scores = (dets[:, k] for k in range(5))
    thresh = dt(thresh)
    areas = (x2 - x1 + dt(1)) * (y2 - y1 + dt(1))
    order = scores.argsort()[::-1]
    ndets = dets.shape[0]
    suppressed = np.zeros(ndets, dtype=np.int64)
    for _i in range(ndets):
        i = order[_i]
        if suppressed[i] == 1:
            continue
        j = order[_i + 1:]
        j = j[suppressed[j] == 0]
        xx1 = np.maximum(x1[i], x1[j])
        yy1 = np.maximum(y1[i], y1[j])
        xx2 = np.minimum(x2[i], x2[j])
        yy2 = np.minimum(y2[i], y2[j])
        w = np.maximum(dt(0), xx2 - xx1 + dt(1))
        h = np.maximum(dt(0), yy2 - yy1 + dt(1))
        inter = w * h
        ovr = inter / (areas[i] + areas[j] - inter)
        suppressed[j[ovr >= thresh]] = 1
    return np.where(suppressed == 0)[0]


def _unavailable(name):

    def fail(*args, **kwargs):
        raise NotImplementedError(
            f'{name} is a compiled extension of the authors\' code with no '
            'stand-in here (PANet\'s test path does not use it)')

    return fail


class MMCVRoIAlignFunction:
    """Stands in for their RoIAlignFunction(h, w, spatial_scale,
    sampling_ratio)(features, rois): mmcv's roi_align without the half-pixel
    offset, as their caffe2-derived kernel."""

    def __init__(self, aligned_height, aligned_width, spatial_scale,
                 sampling_ratio):
        self.size = (int(aligned_height), int(aligned_width))
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)

    def __call__(self, features, rois):
        from mmcv.ops import roi_align

        # their kernel reads the raw memory as NCHW (THCudaTensor_data), as
        # does mmcv's: contiguous() (CPU convs may return other strides)
        return roi_align(features.contiguous(), rois.to(features.dtype),
                         self.size, self.spatial_scale, self.sampling_ratio,
                         'avg', False)


def _module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def import_authors(repo):
    """Import their lib/ with the shims of the docstring; returns a
    namespace of their modules and the list of shims applied."""
    lib = osp.join(osp.abspath(repo), 'lib')
    clash = [
        n for n in THEIR_PACKAGES if n in sys.modules and not (
            getattr(sys.modules[n], '__file__', None) or '').startswith(lib)
    ]
    if clash:
        raise SetupError('modules named like the authors\' packages are '
                         f'already imported: {clash}')
    try:
        from mmcv.ops import roi_align  # noqa: F401
    except Exception as e:  # pragma: no cover - depends on the install
        raise SetupError('mmcv with its compiled ops is needed for the '
                         f'RoIAlign stand-in: {e!r}')
    shims = []
    sys.path.insert(0, lib)
    shims.append(f'{lib} first on sys.path (this process only)')
    for alias, value in (('float', float), ('int', int), ('bool', bool),
                         ('object', object)):
        if alias not in np.__dict__:
            setattr(np, alias, value)
            shims.append(f'np.{alias} = {value.__name__} (removed in numpy '
                         '1.24, used by their code)')
    if 'torch._six' not in sys.modules:
        import collections.abc

        import torch
        try:
            importlib.import_module('torch._six')
        except ImportError:
            sys.modules['torch._six'] = torch._six = _module(
                'torch._six',
                string_classes=(str, bytes),
                int_classes=int,
                container_abcs=collections.abc)
            shims.append('torch._six (string_classes, int_classes; removed '
                         'in torch 2.0, imported by their nn.parallel)')
    # their multi-GPU nn.parallel imports torch 0.4 internals
    # (numpy_type_map): core/test.py gets OneDeviceDataParallel instead
    sys.modules['nn.parallel'] = _module(
        'nn.parallel', DataParallel=_unavailable('nn.DataParallel'))
    shims.append('their nn.parallel (multi-GPU DataParallel, imports '
                 'torch 0.4\'s numpy_type_map): a stub; core/test.py gets a '
                 'one-device stand-in')
    # compiled extensions: registered before their importers run
    stubs = {
        'utils.cython_nms':
        dict(
            nms=cython_nms_port, soft_nms=_unavailable('cython_nms.soft_nms')),
        'utils.cython_bbox':
        dict(bbox_overlaps=_unavailable('cython_bbox.bbox_overlaps')),
        'model.roi_pooling.functions.roi_pool':
        dict(RoIPoolFunction=_unavailable('RoIPoolFunction')),
        'model.roi_crop.functions.roi_crop':
        dict(RoICropFunction=_unavailable('RoICropFunction')),
        'modeling.roi_xfrom.roi_align.functions.roi_align':
        dict(RoIAlignFunction=MMCVRoIAlignFunction),
    }
    try:
        for name, attrs in stubs.items():
            parent, _, child = name.rpartition('.')
            package = importlib.import_module(parent)
            module = _module(name, **attrs)
            sys.modules[name] = module
            setattr(package, child, module)
        shims += [
            'utils.cython_nms.nms: Python port of their cython_nms.pyx',
            'RoIAlignFunction: mmcv.ops.roi_align(aligned=False, their '
            'sampling_ratio and spatial_scale) instead of their CUDA kernel',
            'RoIPoolFunction, RoICropFunction, cython_bbox, soft_nms: raise '
            '(not on the PANet test path)'
        ]
        config = importlib.import_module('core.config')
        model_builder = importlib.import_module('modeling.model_builder')
        test = importlib.import_module('core.test')
        blob = importlib.import_module('utils.blob')
        collections = importlib.import_module('utils.collections')
    except SetupError:
        raise
    except Exception as e:
        raise SetupError(
            f'the authors\' code in {lib} cannot be imported here: {e!r} '
            '(see the shims in this script\'s docstring)') from e
    return types.SimpleNamespace(
        config=config,
        model_builder=model_builder,
        test=test,
        blob=blob,
        AttrDict=collections.AttrDict,
        default_cfg=copy.deepcopy(config.cfg),
        shims=shims)


def _attrdict(value, AttrDict):
    if isinstance(value, dict):
        return AttrDict({k: _attrdict(v, AttrDict) for k, v in value.items()})
    return value


def configure(authors, repo, variant, scale, max_size):
    """Their global cfg for the variant's yaml (reset first)."""
    import yaml
    cfg = authors.config.cfg
    cfg.immutable(False)
    cfg.clear()
    cfg.update(copy.deepcopy(authors.default_cfg))
    with open(osp.join(repo, YAMLS[variant])) as f:
        authors.config.merge_cfg_from_cfg(
            _attrdict(yaml.safe_load(f), authors.AttrDict))
    cfg.MODEL.NUM_CLASSES = 81
    cfg.MODEL.LOAD_IMAGENET_PRETRAINED_WEIGHTS = False
    cfg.TEST.SCALE, cfg.TEST.MAX_SIZE = scale, max_size
    authors.config.assert_and_infer_cfg(make_immutable=False)
    return cfg


@contextlib.contextmanager
def cuda_is_identity():
    import torch
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = cuda


def _gather(out):
    """Their nn/parallel/scatter_gather.py gather for one device: numpy
    arrays in the outputs become tensors."""
    if isinstance(out, np.ndarray):
        import torch
        return torch.from_numpy(out)
    if isinstance(out, dict):
        return {k: _gather(v) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return type(out)(_gather(v) for v in out)
    return out


class OneDeviceDataParallel:
    """What core/test.py expects of their mynn.DataParallel on one device:
    lists of inputs, numpy outputs gathered into tensors, the network as
    ``.module``."""

    def __init__(self, module):
        self.module = module

    def __call__(self, data, im_info, **kwargs):
        return _gather(self.module(data[0], im_info[0], **kwargs))


# ------------------------------------------------------------ comparison
class Report:

    def __init__(self):
        self.rows, self.failed = [], []

    def add(self, part, diff, bound, scale=None, note=''):
        ok = diff <= bound
        self.rows.append((part, diff, bound, scale, note, ok))
        if not ok:
            self.failed.append(part)
        ref = '' if scale is None else f' (max |ref| {scale:.3g})'
        print(f'  {"ok  " if ok else "FAIL"} {part:<34} max |diff| '
              f'{diff:.3g} <= {bound:.3g}{ref}{" " + note if note else ""}')

    def check(self, part, ok, note):
        self.add(part, 0. if ok else 1., 0., note=note)

    def close(self, part, ours, ref, rtol, atol=0.):
        import torch
        a, b = torch.as_tensor(ours).double(), torch.as_tensor(ref).double()
        if a.shape != b.shape:
            self.check(part, False, f'shapes {tuple(a.shape)} and '
                       f'{tuple(b.shape)}')
            return
        scale = float(b.abs().max()) if b.numel() else 0.
        diff = float((a - b).abs().max()) if b.numel() else 0.
        self.add(part, diff, atol + rtol * (scale or 1.), scale)


def compare_state_dicts(report, theirs, ref):
    a, b = theirs.state_dict(), ref.state_dict()
    same_keys = list(a) == list(b)
    shapes = same_keys and all(a[k].shape == b[k].shape for k in a)
    note = f'{len(a)} / {len(b)} tensors'
    if not same_keys:
        note += f'; only theirs: {sorted(set(a) - set(b))[:5]}, only the ' \
                f'reference\'s: {sorted(set(b) - set(a))[:5]}' \
                if set(a) != set(b) else '; key order differs'
    report.check('state dict keys, order, shapes', shapes, note)
    return shapes


def compare_stages(report, authors, A, theirs, ref, image, scale, max_size,
                   rtol):
    """Float64, both models given the same inputs at each part."""
    import torch
    theirs, ref = copy.deepcopy(theirs).double(), copy.deepcopy(ref).double()
    blob_t, scale_t, info_t = authors.blob.get_image_blob(
        image, scale, max_size)
    blob_r, scale_r, info_r = A.get_image_blob(image, scale, max_size)
    report.check(
        'input blob, im_scale, im_info',
        np.array_equal(blob_t, blob_r) and np.squeeze(scale_t) == scale_r
        and np.array_equal(info_t, info_r), f'blob {blob_t.shape}')
    # (their im_scale is a one-element list, as the reference notes)
    blob = torch.from_numpy(blob_r).double()
    with torch.no_grad(), cuda_is_identity():
        feats_t = theirs.Conv_Body(blob)
        feats_r = A.conv_body(ref, blob)
        for name, a, b in zip(['P6', 'N5', 'N4', 'N3', 'N2'], feats_t,
                              feats_r):
            report.close(f'FPN + bottom-up {name}', a, b, rtol)
        rpn_t = theirs.RPN(feats_t, torch.from_numpy(info_t))
        rpn_r = A.rpn_outputs(ref, feats_r)
        for i, lvl in enumerate(A.RPN_LEVELS):
            report.close(f'RPN probabilities P{lvl}',
                         torch.sigmoid(rpn_t[f'rpn_cls_logits_fpn{lvl}']),
                         rpn_r[lvl]['cls_prob'], rtol)
            report.close(f'RPN deltas P{lvl}',
                         rpn_t[f'rpn_bbox_pred_fpn{lvl}'],
                         rpn_r[lvl]['bbox_pred'], rtol)
            cell = theirs.RPN.GenerateProposals_modules[i]._anchors
            report.close(
                f'cell anchors P{lvl}', cell,
                A.generate_anchors(
                    2.**lvl,
                    (A.RPN_ANCHOR_START_SIZE * 2.**(lvl - A.RPN_LEVELS[0]), ),
                    A.RPN_ASPECT_RATIOS), 0.)
        rois_r, _ = A.rpn_proposals(ref, feats_r, info_r)
        report.close('RPN proposals (1000, after NMS)', rpn_t['rois'], rois_r,
                     rtol)
        rois = rois_r[:300]
        levels_t, levels_r = feats_t[1:], feats_r[1:]
        cls_t, box_t = theirs.Box_Outs(
            theirs.Box_Head(levels_t, dict(rois=rois)))
        cls_r, box_r = A.box_head(ref, levels_r, torch.from_numpy(rois))
        report.close('box head probabilities (300 RoIs)', cls_t, cls_r, rtol)
        report.close('box head deltas (300 RoIs)', box_t, box_r, rtol)
        if ref.mask_on:
            mask_rois = rois[:64]
            report.close(
                'mask head probabilities (64 RoIs)',
                theirs.mask_net(levels_t, dict(mask_rois=mask_rois)),
                A.mask_head(ref, levels_r, torch.from_numpy(mask_rois)), rtol)


def compare_end_to_end(report, authors, A, theirs, ref, image, scale, max_size,
                       box_atol, score_atol, mask_px):
    """Float32, their core/test.py im_detect_all against the reference's."""
    import pycocotools.mask as mask_util
    import torch
    with torch.no_grad(), cuda_is_identity():
        boxes_t, segms_t, _ = authors.test.im_detect_all(
            OneDeviceDataParallel(theirs), image)
    boxes_r, segms_r = A.im_detect_all(ref, image, scale, max_size)
    counts_t = [len(b) for b in boxes_t[1:]]
    counts_r = [len(b) for b in boxes_r[1:]]
    report.check(
        'detections per class', counts_t == counts_r,
        f'{sum(counts_t)} / {sum(counts_r)} detections, '
        f'{sum(c > 0 for c in counts_r)} classes')
    if counts_t != counts_r:
        return
    dets_t = np.vstack(boxes_t[1:])
    dets_r = np.vstack(boxes_r[1:])
    report.close('detection boxes (px)', dets_t[:, :4], dets_r[:, :4], 0.,
                 box_atol)
    report.close('detection scores', dets_t[:, 4], dets_r[:, 4], 0.,
                 score_atol)
    if ref.mask_on:
        masks_t = [
            mask_util.decode(rle) for segms in segms_t[1:] for rle in segms
        ]
        masks_r = [m for segms in segms_r[1:] for m in segms]
        differ = [int((a != b).sum()) for a, b in zip(masks_t, masks_r)]
        identical = sum(d == 0 for d in differ)
        report.add(
            'mask pixels differing (any mask)',
            float(max(differ, default=0)),
            float(mask_px),
            note=f'{identical} of {len(differ)} masks identical, '
            f'{int(sum(m.sum() for m in masks_r))} mask pixels')


def run(repo,
        variants,
        seed,
        scale,
        max_size,
        image_path,
        rtol=1e-9,
        box_atol=1e-3,
        score_atol=1e-5,
        mask_px=0,
        end_to_end=True):
    """Compare every variant; returns the list of parts that failed."""
    check_repository(repo)
    import cv2
    import torch
    A = load_reference()
    authors = import_authors(repo)
    print('shims applied to the authors\' code:')
    for shim in authors.shims:
        print(f'  - {shim}')
    image = cv2.imread(image_path)
    if image is None:
        raise SetupError(f'cannot read the image {image_path!r}')
    print(f'image {image_path} {image.shape[1]}x{image.shape[0]}, test '
          f'scale {scale} / max size {max_size}, seed {seed}, torch '
          f'{torch.__version__}; float64 parts: rtol {rtol:g}; float32 end '
          f'to end: boxes {box_atol:g} px, scores {score_atol:g}, '
          f'{mask_px} mask pixels')
    failed = []
    for variant in variants:
        print(f'{variant} ({YAMLS[variant]}):')
        configure(authors, repo, variant, scale, max_size)
        theirs = authors.model_builder.Generalized_RCNN().eval()
        ref = A.randomize_(A.build_authors_model(variant), seed)
        report = Report()
        if compare_state_dicts(report, theirs, ref):
            theirs.load_state_dict(ref.state_dict(), strict=True)
            compare_stages(report, authors, A, theirs, ref, image, scale,
                           max_size, rtol)
            if end_to_end:
                compare_end_to_end(report, authors, A, theirs.float(),
                                   ref.float(), image, scale, max_size,
                                   box_atol, score_atol, mask_px)
        failed += [f'{variant}: {part}' for part in report.failed]
    return failed


def default_image():
    import matplotlib.cbook as cbook
    return cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Compare tests/reference/authors_panet.py with the '
        'PANet authors\' own code (a checkout of ShuLiu1993/PANet).')
    parser.add_argument('authors_repo', metavar='AUTHORS_REPO')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--variants', nargs='+', choices=list(YAMLS), default=list(YAMLS))
    parser.add_argument('--scale', type=int, default=256)
    parser.add_argument('--max-size', type=int, default=400)
    parser.add_argument(
        '--image',
        help='BGR image file (default: matplotlib\'s '
        'grace_hopper.jpg, the parity tests\' photograph)')
    parser.add_argument(
        '--rtol',
        type=float,
        default=1e-9,
        help='float64 parts: max |diff| <= rtol * max |reference|')
    parser.add_argument(
        '--box-atol',
        type=float,
        default=1e-3,
        help='float32 end to end: max |diff| of the boxes (px)')
    parser.add_argument(
        '--score-atol',
        type=float,
        default=1e-5,
        help='float32 end to end: max |diff| of the scores')
    parser.add_argument(
        '--mask-px',
        type=int,
        default=0,
        help='float32 end to end: pixels that may differ in any mask')
    parser.add_argument(
        '--no-end-to-end', action='store_true', help='only the float64 parts')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        failed = run(args.authors_repo, args.variants, args.seed, args.scale,
                     args.max_size, args.image or default_image(), args.rtol,
                     args.box_atol, args.score_atol, args.mask_px,
                     not args.no_end_to_end)
    except SetupError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if failed:
        print('FAILED: ' + '; '.join(failed))
        return 1
    print('all parts within tolerance')
    return 0


if __name__ == '__main__':
    sys.exit(main())
