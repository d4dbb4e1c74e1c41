"""Convert the PANet authors' released checkpoints into mmdet checkpoints.

The authors' PyTorch code (GitHub ``ShuLiu1993/PANet``, on
``roytseng-tw/Detectron.pytorch``) saves ``{'step', 'train_size',
'batch_size', 'model', 'optimizer'}`` (``tools/train_net_step.py
save_ckpt``), ``model`` being the ``Generalized_RCNN`` state dict without a
``module.`` prefix. Its keys follow the module names of
``lib/modeling/{ResNet,FPN,fast_rcnn_heads,mask_rcnn_heads}.py``; the tables
below map each of them to this package's modules. Three released models:

==========================  ===============================================
``mask-rcnn-2x``            ``e2e_panet_R-50-FPN_2x_mask.yaml``
``faster-rcnn-1x``          ``e2e_panet_R-50-FPN_1x_det.yaml`` (heavier head)
``faster-rcnn-2fc-1x``      ``e2e_panet_R-50-FPN_1x_det_2fc.yaml``
==========================  ===============================================

Besides renaming, the converter

- moves the background class from the authors' first slot to mmdet's last
  (``cls_score``) and drops the background's box deltas and mask channel,
  which mmdet's heads do not have (the authors' test never reads them);
- gives every frozen BN that replaces an ``AffineChannel2d`` the running
  statistics ``mean = 0``, ``var = 1 - eps``, so that mmdet's
  ``(x - mean) / sqrt(var + eps)`` is the identity in float32 and the BN
  computes ``weight * x + bias`` as ``AffineChannel2d`` does;
- optionally keeps the COCO classes of another dataset (``cityscapes``: the
  authors' ``convert_coco_model_to_cityscapes.py`` mapping, rider from
  person).
"""
import hashlib
import os.path as osp
import pickle
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .atomic import write_atomically

# A rule maps one authors' key pattern to one mmdet key pattern. ``{name}``
# matches one dot-free key component; ``{p}`` is ``weight`` or ``bias``.
# Index maps turn the authors' integer into ours (``None``: not this rule).
IndexMap = Dict[str, Callable[[int], Optional[int]]]


@dataclass(frozen=True)
class Rule:
    src: str
    dst: str
    index: IndexMap = field(default_factory=dict)
    frozen_bn: bool = False  # an AffineChannel2d -> a frozen BN's affine

    def match(self, key: str) -> Optional[Tuple[str, bool]]:
        m = _compile(self.src).fullmatch(key)
        if m is None:
            return None
        fields = m.groupdict()
        for name, fn in self.index.items():
            value = fn(int(fields[name]))
            if value is None:
                return None
            fields[name] = str(value)
        return self.dst.format(**fields), self.frozen_bn


_PATTERNS: Dict[str, 're.Pattern'] = {}


def _compile(src: str) -> 're.Pattern':
    if src not in _PATTERNS:
        regex = re.escape(src).replace(r'\{p\}', r'(?P<p>weight|bias)')
        regex = re.sub(r'\\\{(\w+)\\\}', r'(?P<\1>[^.]+)', regex)
        _PATTERNS[src] = re.compile(regex)
    return _PATTERNS[src]


def _minus(n: int) -> Callable[[int], int]:
    return lambda i: i - n


def _from(n: int) -> Callable[[int], int]:
    return lambda i: n - i


def _every(step: int, offset: int) -> Callable[[int], Optional[int]]:
    """Index ``step * k + offset`` of an ``nn.Sequential`` -> ``k``."""
    return lambda i: i // step if i % step == offset else None


_BODY = 'Conv_Body.conv_body.'
_EXTRACT = 'roi_head.{}_roi_extractor.level_layers.{{l}}.'
BACKBONE_AND_NECK_RULES: Tuple[Rule, ...] = (
    # ResNet50_conv5_body (lib/modeling/ResNet.py): res1 stem, res2..res5
    Rule(_BODY + 'res1.conv1.weight', 'backbone.conv1.weight'),
    Rule(_BODY + 'res1.bn1.{p}', 'backbone.bn1.{p}', frozen_bn=True),
    Rule(_BODY + 'res{s}.{b}.conv{k}.weight',
         'backbone.layer{s}.{b}.conv{k}.weight', {'s': _minus(1)}),
    Rule(
        _BODY + 'res{s}.{b}.bn{k}.{p}',
        'backbone.layer{s}.{b}.bn{k}.{p}', {'s': _minus(1)},
        frozen_bn=True),
    Rule(_BODY + 'res{s}.{b}.downsample.0.weight',
         'backbone.layer{s}.{b}.downsample.0.weight', {'s': _minus(1)}),
    Rule(
        _BODY + 'res{s}.{b}.downsample.1.{p}',
        'backbone.layer{s}.{b}.downsample.1.{p}', {'s': _minus(1)},
        frozen_bn=True),
    # class fpn (lib/modeling/FPN.py), GN variant. The authors list levels
    # coarsest first: conv_top is C5's lateral, topdown_lateral_modules[i]
    # C(4-i)'s, posthoc_modules[i] P(5-i)'s conv; ours are finest first.
    Rule('Conv_Body.conv_top.0.weight', 'neck.lateral_convs.3.conv.weight'),
    Rule('Conv_Body.conv_top.1.{p}', 'neck.lateral_convs.3.gn.{p}'),
    Rule('Conv_Body.topdown_lateral_modules.{i}.conv_lateral.0.weight',
         'neck.lateral_convs.{i}.conv.weight', {'i': _from(2)}),
    Rule('Conv_Body.topdown_lateral_modules.{i}.conv_lateral.1.{p}',
         'neck.lateral_convs.{i}.gn.{p}', {'i': _from(2)}),
    Rule('Conv_Body.posthoc_modules.{i}.0.weight',
         'neck.fpn_convs.{i}.conv.weight', {'i': _from(3)}),
    Rule('Conv_Body.posthoc_modules.{i}.1.{p}', 'neck.fpn_convs.{i}.gn.{p}',
         {'i': _from(3)}),
    # bottom-up path: step i builds N(i+3) from N(i+2), as ours
    Rule('Conv_Body.panet_buttomup_conv1_modules.{i}.0.{p}',
         'neck.downsample_convs.{i}.conv.{p}'),
    Rule('Conv_Body.panet_buttomup_conv1_modules.{i}.1.{p}',
         'neck.downsample_convs.{i}.gn.{p}'),
    Rule('Conv_Body.panet_buttomup_conv2_modules.{i}.0.{p}',
         'neck.pa_convs.{i}.conv.{p}'),
    Rule('Conv_Body.panet_buttomup_conv2_modules.{i}.1.{p}',
         'neck.pa_convs.{i}.gn.{p}'),
    # fpn_rpn_outputs: one conv shared by the levels, sigmoid scores
    Rule('RPN.FPN_RPN_conv.{p}', 'rpn_head.rpn_conv.{p}'),
    Rule('RPN.FPN_RPN_cls_score.{p}', 'rpn_head.rpn_cls.{p}'),
    Rule('RPN.FPN_RPN_bbox_pred.{p}', 'rpn_head.rpn_reg.{p}'),
    # fast_rcnn_outputs (classes reordered, see CLASS_LAYERS)
    Rule('Box_Outs.cls_score.{p}', 'roi_head.bbox_head.fc_cls.{p}'),
    Rule('Box_Outs.bbox_pred.{p}', 'roi_head.bbox_head.fc_reg.{p}'),
)
# roi_Xconv1fc_gn_head_panet: per-level conv1_head, then 3 convs, 1 fc
HEAVIER_BOX_HEAD_RULES: Tuple[Rule, ...] = (
    Rule('Box_Head.conv1_head.{l}.0.weight',
         _EXTRACT.format('bbox') + 'conv.weight'),
    Rule('Box_Head.conv1_head.{l}.1.{p}',
         _EXTRACT.format('bbox') + 'gn.{p}'),
    Rule('Box_Head.convs.{j}.weight',
         'roi_head.bbox_head.shared_convs.{j}.conv.weight',
         {'j': _every(3, 0)}),
    Rule('Box_Head.convs.{j}.{p}',
         'roi_head.bbox_head.shared_convs.{j}.gn.{p}', {'j': _every(3, 1)}),
    Rule('Box_Head.fc.{p}', 'roi_head.bbox_head.shared_fcs.0.{p}'),
)
# roi_2mlp_head_gn_panet: per-level fc1 + GN + ReLU, then fc2 + GN + ReLU
TWO_FC_BOX_HEAD_RULES: Tuple[Rule, ...] = (
    Rule('Box_Head.fc1.{l}.0.{p}',
         _EXTRACT.format('bbox') + 'fc.{p}'),
    Rule('Box_Head.fc1.{l}.1.{p}',
         _EXTRACT.format('bbox') + 'norm.{p}'),
    Rule('Box_Head.fc2.0.{p}', 'roi_head.bbox_head.shared_fcs.0.{p}'),
    Rule('Box_Head.fc2.1.{p}', 'roi_head.bbox_head.shared_fc_norms.0.{p}'),
)
# mask_rcnn_fcn_head_v1upXconvs_gn_adp_ff + mask_rcnn_outputs: per-level
# mask_conv1, conv_fcn (conv2, conv3), mask_conv4, upconv, classify; the fc
# path mask_conv4_fc, mask_conv5_fc, mask_fc from conv3
_MASK = 'roi_head.mask_head.'
MASK_HEAD_RULES: Tuple[Rule, ...] = (
    Rule('Mask_Head.mask_conv1.{l}.0.weight',
         _EXTRACT.format('mask') + 'conv.weight'),
    Rule('Mask_Head.mask_conv1.{l}.1.{p}',
         _EXTRACT.format('mask') + 'gn.{p}'),
    Rule('Mask_Head.conv_fcn.{j}.weight', _MASK + 'convs.{j}.conv.weight',
         {'j': _every(3, 0)}),
    Rule('Mask_Head.conv_fcn.{j}.{p}', _MASK + 'convs.{j}.gn.{p}',
         {'j': _every(3, 1)}),
    Rule('Mask_Head.mask_conv4.0.weight', _MASK + 'convs.2.conv.weight'),
    Rule('Mask_Head.mask_conv4.1.{p}', _MASK + 'convs.2.gn.{p}'),
    Rule('Mask_Head.mask_conv4_fc.0.weight', _MASK + 'fc_convs.0.conv.weight'),
    Rule('Mask_Head.mask_conv4_fc.1.{p}', _MASK + 'fc_convs.0.gn.{p}'),
    Rule('Mask_Head.mask_conv5_fc.0.weight', _MASK + 'fc_convs.1.conv.weight'),
    Rule('Mask_Head.mask_conv5_fc.1.{p}', _MASK + 'fc_convs.1.gn.{p}'),
    Rule('Mask_Head.mask_fc.0.{p}', _MASK + 'fc_logits.{p}'),
    Rule('Mask_Head.upconv.{p}', _MASK + 'upsample.{p}'),
    Rule('Mask_Outs.classify.{p}', _MASK + 'conv_logits.{p}'),
)

# mmdet key -> how its first dimension indexes classes:
#   'scores': K classes then background (authors: background first)
#   'deltas': 4 per class, no background (authors: 4 for background first)
#   'masks':  1 per class, no background (authors: background first)
CLASS_LAYERS = {
    'roi_head.bbox_head.fc_cls.weight': 'scores',
    'roi_head.bbox_head.fc_cls.bias': 'scores',
    'roi_head.bbox_head.fc_reg.weight': 'deltas',
    'roi_head.bbox_head.fc_reg.bias': 'deltas',
    _MASK + 'conv_logits.weight': 'masks',
    _MASK + 'conv_logits.bias': 'masks',
}

# For each class of a target dataset, in mmdet's class order, the authors'
# COCO class index (1-based: 0 is their background). COCO keeps all 80.
# Cityscapes: lib/datasets/cityscapes/coco_to_cityscapes_id.py
# cityscapes_to_coco_with_rider, in mmdet's CityscapesDataset order
# (person, rider, car, truck, bus, train, motorcycle, bicycle).
DATASET_CLASSES: Dict[str, Tuple[int, ...]] = {
    'coco': tuple(range(1, 81)),
    'cityscapes': (1, 1, 3, 8, 6, 7, 4, 2),
}

BN_EPS = 1e-5  # mmdet's BN default, used by the official configs


@dataclass(frozen=True)
class OfficialModel:
    """One released model: how to recognise it, map it, and test it."""
    name: str
    description: str
    config: str  # relative to the repository (or the package's .mim)
    marker: str  # an authors' key only this model has
    rules: Tuple[Rule, ...]


_CFG = 'configs/panet/official/'
OFFICIAL_MODELS: Tuple[OfficialModel, ...] = (
    OfficialModel(
        'mask-rcnn-2x', 'PANet Mask R-CNN, R-50, 2x '
        '(e2e_panet_R-50-FPN_2x_mask.yaml)',
        _CFG + 'panet-official_r50_bufpn-gn_2x_coco.py',
        'Mask_Head.mask_fc.0.weight',
        BACKBONE_AND_NECK_RULES + HEAVIER_BOX_HEAD_RULES + MASK_HEAD_RULES),
    OfficialModel(
        'faster-rcnn-1x', 'PANet Faster R-CNN, heavier box head, R-50, 1x '
        '(e2e_panet_R-50-FPN_1x_det.yaml)',
        _CFG + 'panet-official-faster-rcnn_r50_bufpn-gn_1x_coco.py',
        'Box_Head.conv1_head.0.0.weight',
        BACKBONE_AND_NECK_RULES + HEAVIER_BOX_HEAD_RULES),
    OfficialModel(
        'faster-rcnn-2fc-1x', 'PANet Faster R-CNN, 2fc box head with GN, '
        'R-50, 1x (e2e_panet_R-50-FPN_1x_det_2fc.yaml)',
        _CFG + 'panet-official-faster-rcnn-2fc_r50_bufpn-gn_1x_coco.py',
        'Box_Head.fc1.0.0.weight',
        BACKBONE_AND_NECK_RULES + TWO_FC_BOX_HEAD_RULES),
)
_EXPECTED = ('a PANet checkpoint of the authors (ShuLiu1993/PANet '
             "tools/train_net_step.py: a dict with 'model' = the "
             'Generalized_RCNN state dict of one of the released models: ' +
             ', '.join(m.name for m in OFFICIAL_MODELS) + ')')

# ---------------------------------------------------------------- reading
# torch's legacy (non-zip) files start with a pickled magic number
_LEGACY_HEAD = b'\x80\x02\x8a\x0a' + (0x1950a86a20f9469cfc6c).to_bytes(
    10, 'little')


def load_authors_checkpoint(
        path: str,
        trust_pickle: bool = False) -> Tuple[Dict[str, Tensor], dict]:
    """Read ``path``: the authors' model state dict, and the file's training
    counters (``step``, ``train_size``, ``batch_size``, ... where present).

    ``torch.load(weights_only=True)`` reads torch-0.4 (legacy, non-zip)
    files too; ``trust_pickle=True`` uses ``weights_only=False`` for a file
    whose origin you trust, should the safe loader refuse it.

    Raises:
        ValueError: one message per case: the file is missing; it is not a
            torch file (a Detectron/caffe2 ``.pkl``); the safe loader
            refused it; it is truncated or corrupt; it is an mmdet
            checkpoint; it holds no authors' state dict.
    """
    if not osp.isfile(path):
        raise ValueError(f'src {path!r} is not a file')
    with open(path, 'rb') as f:
        head = f.read(len(_LEGACY_HEAD))
    if head[:2] != b'PK' and head != _LEGACY_HEAD and head[:1] == b'\x80':
        raise ValueError(f'src {path!r} is a pickle, not a torch checkpoint '
                         '(a Detectron/caffe2 .pkl weights file?); convert '
                         "the authors' PyTorch checkpoint (.pth): expected "
                         f'{_EXPECTED}')
    try:
        ckpt = torch.load(
            path, map_location='cpu', weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        if 'Weights only load failed' not in str(e):
            raise ValueError(f'src {path!r} could not be read ({e}); it may '
                             'be truncated or corrupt') from e
        raise ValueError(
            f'torch.load(weights_only=True) refused {path!r}. If you trust '
            "the file (e.g. downloaded from the authors' link), convert it "
            'with --trust-pickle, which loads it with weights_only=False and '
            'can run code stored in the file') from e
    except Exception as e:
        raise ValueError(f'src {path!r} could not be read as a torch '
                         f'checkpoint ({type(e).__name__}: {e}); it may be '
                         'truncated or corrupt') from e
    if isinstance(ckpt, dict) and 'model' not in ckpt and 'state_dict' in ckpt:
        raise ValueError(f'src {path!r} is an mmdet/mmengine checkpoint '
                         "('state_dict' and 'meta'; already converted?), "
                         f'expected {_EXPECTED}')
    state = ckpt.get('model', ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, Tensor)
            for k, v in state.items()):
        raise ValueError(f'src {path!r} holds no state dict of tensors '
                         f'(a {type(state).__name__}); expected {_EXPECTED}')
    state = OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in state.items())
    counters = {
        k: v
        for k, v in ckpt.items()
        if k in _COUNTERS and isinstance(v, (int, float))
    }
    return state, counters


_COUNTERS = ('step', 'train_size', 'batch_size', 'epoch', 'iters_per_epoch')


def detect_official_model(state: Dict[str, Tensor]) -> OfficialModel:
    """Which released model ``state`` holds, from its keys.

    Raises:
        ValueError: naming what the keys look like instead.
    """
    for model in OFFICIAL_MODELS:
        if model.marker in state:
            return model
    keys = list(state)
    if any(k.startswith('Conv_Body.') for k in keys):
        what = ('a Detectron.pytorch Generalized_RCNN of another '
                'architecture (no PANet bottom-up path or box head)')
    else:
        what = f'not a Detectron.pytorch model (first keys: {keys[:4]})'
    raise ValueError(f'the checkpoint is {what}; expected {_EXPECTED}')


# ---------------------------------------------------------------- mapping
def _select_classes(kind: str, tensor: Tensor,
                    classes: Sequence[int]) -> Tensor:
    per = 4 if kind == 'deltas' else 1
    if tensor.shape[0] % per:
        raise ValueError(f'class layer of {tensor.shape[0]} rows is not a '
                         f'multiple of {per}')
    num_src = tensor.shape[0] // per
    if max(classes) >= num_src:
        raise ValueError(f'the checkpoint has {num_src} classes (incl. '
                         f'background); class index {max(classes)} asked')
    idx = list(classes) + ([0] if kind == 'scores' else [])
    grouped = tensor.reshape(num_src, per, *tensor.shape[1:])
    return grouped[idx].reshape(len(idx) * per, *tensor.shape[1:])


def map_state_dict(state: Dict[str, Tensor],
                   model: OfficialModel,
                   classes: Sequence[int] = DATASET_CLASSES['coco'],
                   bn_eps: float = BN_EPS) -> 'OrderedDict[str, Tensor]':
    """The mmdet state dict of ``model`` for the authors' ``state``.

    Every authors' key must match exactly one rule and every target key
    must come from exactly one authors' key; frozen BNs get their running
    statistics (see the module docstring).

    Raises:
        ValueError: on unmatched or doubly mapped keys.
    """
    out: 'OrderedDict[str, Tensor]' = OrderedDict()
    unmatched, frozen_prefixes = [], []
    for key, tensor in state.items():
        hits = [r for r in (rule.match(key) for rule in model.rules) if r]
        if len(hits) != 1:
            unmatched.append(key)
            continue
        dst, frozen_bn = hits[0]
        if dst in out:
            raise ValueError(f'{key!r} maps to {dst!r}, which another key '
                             'already filled')
        tensor = tensor.detach().clone().float().contiguous()
        if dst in CLASS_LAYERS:
            tensor = _select_classes(CLASS_LAYERS[dst], tensor, classes)
        out[dst] = tensor
        if frozen_bn and dst.endswith('.weight'):
            frozen_prefixes.append(dst[:-len('weight')])
    if unmatched:
        raise ValueError(
            f'{len(unmatched)} keys of the checkpoint have no place in '
            f'{model.name} (first: {unmatched[:5]}); expected {_EXPECTED}')
    for prefix in frozen_prefixes:
        channels = out[prefix + 'weight'].shape[0]
        out[prefix + 'running_mean'] = torch.zeros(channels)
        out[prefix + 'running_var'] = torch.full((channels, ), 1. - bn_eps)
        out[prefix + 'num_batches_tracked'] = torch.tensor(0)
    return out


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def convert_checkpoint(src: str,
                       dst: str,
                       config: Optional[str] = None,
                       dataset: str = 'coco',
                       trust_pickle: bool = False,
                       root: str = '.') -> dict:
    """Convert the authors' checkpoint ``src`` into an mmdet one at ``dst``.

    Args:
        src: the authors' ``.pth``.
        dst: output path; written only once everything checked out.
        config: config to check the result against (strict loading);
            defaults to the detected model's official config under ``root``.
        dataset: ``'coco'`` (all 80 classes) or ``'cityscapes'`` (the
            authors' COCO-to-Cityscapes class mapping, for fine-tuning).
        trust_pickle: load ``src`` with ``weights_only=False``.
        root: where the default config paths are relative to.

    Returns:
        dict: the ``meta`` written into ``dst``.
    """
    from mmengine.config import Config

    from ..apis import build_detector, load_weights
    if dataset not in DATASET_CLASSES:
        raise ValueError(f'dataset must be one of {tuple(DATASET_CLASSES)}, '
                         f'got {dataset!r}')
    if osp.abspath(src) == osp.abspath(dst):
        raise ValueError('dst must differ from src')
    state, counters = load_authors_checkpoint(src, trust_pickle)
    model = detect_official_model(state)
    mapped = map_state_dict(state, model, DATASET_CLASSES[dataset])
    config = config or osp.join(root, model.config)
    detector = build_detector(Config.fromfile(config))
    load_weights(detector, mapped, config=config)  # strict: all must fit
    meta = dict(
        official_model=model.name,
        description=model.description,
        config=model.config
        if config == osp.join(root, model.config) else config,
        dataset=dataset,
        converted_from=osp.basename(src),
        source_sha256=sha256_of(src),
        source_counters=counters,
        converter='panet_mmdet tools/model_converters/'
        'panet_official_to_mmdet.py')
    classes = _dataset_classes(dataset)
    if classes is not None:
        meta['dataset_meta'] = dict(classes=classes)
    write_atomically(
        dst, lambda f: torch.save(dict(meta=meta, state_dict=mapped), f))
    return meta


def _dataset_classes(dataset: str) -> Optional[tuple]:
    from mmdet.datasets import CityscapesDataset, CocoDataset
    datasets = dict(coco=CocoDataset, cityscapes=CityscapesDataset)
    return tuple(datasets[dataset].METAINFO['classes'])
