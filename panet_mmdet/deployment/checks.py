"""Whether the ONNX export covers a model: :func:`check_exportable`."""
import torch.nn as nn
from mmcv.ops import RoIAlign
from mmdet.models.dense_heads import RPNHead
from mmdet.models.detectors import TwoStageDetector
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.models.task_modules.prior_generators import AnchorGenerator

from ..models.dense_heads.detectron_rpn_head import DetectronRPNHead
from ..models.roi_heads.detectron_roi_head import DetectronRoIHead
from ..models.roi_heads.roi_extractors import \
    AdaptiveFeaturePoolingRoIExtractor
from ..models.task_modules.coders.detectron_delta_xywh_bbox_coder import \
    DetectronDeltaXYWHBBoxCoder
from ..models.task_modules.prior_generators.detectron_anchor_generator import \
    DetectronAnchorGenerator

_EXTRACTORS = (SingleRoIExtractor, AdaptiveFeaturePoolingRoIExtractor)
_RPN_HEADS = (RPNHead, DetectronRPNHead)
_ANCHOR_GENERATORS = (AnchorGenerator, DetectronAnchorGenerator)
_BBOX_CODERS = (DeltaXYWHBBoxCoder, DetectronDeltaXYWHBBoxCoder)
_ROI_HEADS = (StandardRoIHead, DetectronRoIHead)


class UnsupportedModelError(ValueError):
    """The model has a part that the ONNX export does not cover."""


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise UnsupportedModelError(
            f'cannot export this model to ONNX: {what}. Supported: '
            'two-stage detectors with RPNHead or DetectronRPNHead '
            '(AnchorGenerator or DetectronAnchorGenerator, '
            'DeltaXYWHBBoxCoder or DetectronDeltaXYWHBBoxCoder, sigmoid '
            'scores), StandardRoIHead or DetectronRoIHead with '
            'SingleRoIExtractor or AdaptiveFeaturePoolingRoIExtractor '
            '(RoIAlign, avg), a softmax BBoxHead with one of those coders, '
            'an FCNMaskHead-based mask head, and plain NMS (offset 0 or 1).')


def _check_nms(cfg, where: str) -> None:
    nms = (cfg or {}).get('nms') or {}
    _require(
        nms.get('type', 'nms') == 'nms',
        f'{where}.nms.type is {nms.get("type")!r}; only "nms" exports')
    _require('iou_threshold' in nms, f'{where}.nms has no iou_threshold')
    _require(
        not nms.get('class_agnostic', False),
        f'{where}.nms.class_agnostic=True; only per-class (per-level) '
        'NMS exports')
    _require(
        nms.get('offset', 0) in (0, 1),
        f'{where}.nms.offset={nms.get("offset")}; only offset=0 or 1 '
        'exports')
    unknown = sorted(
        set(nms) -
        {'type', 'iou_threshold', 'class_agnostic', 'offset', 'split_thr'})
    _require(not unknown, f'{where}.nms has {unknown}, which the export '
             'does not apply')


def _check_extractor(extractor: nn.Module, where: str) -> None:
    _require(
        type(extractor) in _EXTRACTORS,
        f'{where} is {type(extractor).__name__}')
    for layer in extractor.roi_layers:
        _require(
            type(layer) is RoIAlign and layer.pool_mode == 'avg',
            f'{where} pools with {type(layer).__name__} '
            f'(pool_mode={getattr(layer, "pool_mode", None)!r}); only '
            "mmcv RoIAlign with pool_mode='avg' exports")


def check_exportable(model: nn.Module) -> None:
    """Raise :class:`UnsupportedModelError` naming the first part of
    ``model`` that the exported graph cannot express."""
    _require(
        isinstance(model, TwoStageDetector),
        f'{type(model).__name__} is not a two-stage detector')
    rpn = model.rpn_head
    _require(
        type(rpn) in _RPN_HEADS,
        f'rpn_head is {type(rpn).__name__}, not RPNHead or '
        'DetectronRPNHead')
    _require(rpn.use_sigmoid_cls, 'rpn_head uses softmax scores')
    _require(
        type(rpn.prior_generator) in _ANCHOR_GENERATORS,
        f'rpn_head.anchor_generator is '
        f'{type(rpn.prior_generator).__name__}')
    _require(
        type(rpn.bbox_coder) in _BBOX_CODERS,
        f'rpn_head.bbox_coder is {type(rpn.bbox_coder).__name__}')
    _check_nms(rpn.test_cfg, 'test_cfg.rpn')
    _require(
        rpn.test_cfg.get('nms_pre', -1) > 0,
        'test_cfg.rpn.nms_pre must be > 0 (the per-level TopK size)')
    roi_head = model.roi_head
    _require(
        type(roi_head) in _ROI_HEADS,
        f'roi_head is {type(roi_head).__name__}, not StandardRoIHead or '
        'DetectronRoIHead')
    _check_extractor(roi_head.bbox_roi_extractor,
                     'roi_head.bbox_roi_extractor')
    head = roi_head.bbox_head
    _require(isinstance(head, BBoxHead), f'bbox_head is {type(head).__name__}')
    _require(
        not head.custom_cls_channels
        and not getattr(head.loss_cls, 'use_sigmoid', False),
        'bbox_head does not use softmax classification')
    _require(
        type(head.bbox_coder) in _BBOX_CODERS,
        f'bbox_head.bbox_coder is {type(head.bbox_coder).__name__}')
    _check_nms(roi_head.test_cfg, 'test_cfg.rcnn')
    if roi_head.with_mask:
        _require(
            isinstance(roi_head.mask_head, FCNMaskHead),
            f'mask_head is {type(roi_head.mask_head).__name__}')
        if not roi_head.share_roi_extractor:
            _check_extractor(roi_head.mask_roi_extractor,
                             'roi_head.mask_roi_extractor')
