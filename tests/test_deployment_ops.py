"""The exportable ops against mmcv/mmdet, in PyTorch and in ONNX Runtime."""
import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from mmcv.ops import batched_nms, roi_align

from panet_mmdet.deployment import check_standard_onnx
from panet_mmdet.deployment.detector import paste_masks
from panet_mmdet.deployment.ops import ExportableRoIAlign, batched_nms_indices


def _run_onnx(module, inputs, names, dynamic_axes=None):
    """Export ``module`` (opset 16), check it, run it in ONNX Runtime."""
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module,
            tuple(inputs),
            buf,
            dynamo=False,
            opset_version=16,
            input_names=names,
            dynamic_axes=dynamic_axes or {})
    check_standard_onnx(onnx.load_from_string(buf.getvalue()))
    session = ort.InferenceSession(
        buf.getvalue(), providers=['CPUExecutionProvider'])
    return session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})


def _rois(batch):
    """RoIs inside, across and outside the border, tiny and image-sized."""
    boxes = torch.tensor([[0., 0., 40., 40.], [10., 5., 100., 60.],
                          [-20., -10., 30., 30.], [100., 70., 140., 90.],
                          [3., 3., 3.5, 4.], [0., 0., 112., 80.],
                          [105., 75., 130., 120.]])
    index = torch.arange(len(boxes)) % batch
    return torch.cat([index[:, None].float(), boxes], dim=1)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_roi_align_onnx_op_equals_mmcv(aligned, sampling_ratio):
    torch.manual_seed(0)
    feat = torch.randn(2, 8, 20, 28)
    rois = _rois(batch=2)
    ref = roi_align(feat, rois, (7, 7), 0.25, sampling_ratio, 'avg', aligned)
    layer = ExportableRoIAlign((7, 7), 0.25, sampling_ratio, aligned)
    assert torch.equal(layer(feat, rois), ref)
    out, = _run_onnx(layer, (feat, rois), ['feat', 'rois'], {'rois': {0: 'n'}})
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-5)
    assert np.abs(ref.numpy()).max() > 0.1  # the RoIs see the features


@pytest.mark.parametrize('aligned', [True, False])
def test_roi_align_grid_sample_equals_mmcv(aligned):
    torch.manual_seed(1)
    feat = torch.randn(1, 8, 20, 28)
    rois = _rois(batch=1)
    ref = roi_align(feat, rois, (7, 7), 0.25, 2, 'avg', aligned)
    layer = ExportableRoIAlign((7, 7), 0.25, 2, aligned, impl='grid_sample')
    torch.testing.assert_close(layer(feat, rois), ref, atol=2e-5, rtol=0)
    out, = _run_onnx(layer, (feat, rois), ['feat', 'rois'], {'rois': {0: 'n'}})
    np.testing.assert_allclose(out, ref.numpy(), atol=2e-5)


def test_roi_align_rejects_what_it_cannot_express():
    with pytest.raises(ValueError, match='impl must be one of'):
        ExportableRoIAlign(7, 0.25, 2, impl='bilinear')
    layer = ExportableRoIAlign(7, 0.25, 0, impl='grid_sample')
    with pytest.raises(ValueError, match='sampling_ratio > 0'):
        layer(torch.zeros(1, 4, 8, 8), _rois(1))


def _clustered_boxes(groups, n, seed):
    """Boxes in clusters, so that NMS has real work to do."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(groups, n // 4, 1, 2, generator=g) * 200
    centres = centres.expand(-1, -1, 4, -1).reshape(groups, -1, 2)
    centres = centres + torch.randn(centres.shape, generator=g) * 6
    sizes = 20 + torch.rand(centres.shape, generator=g) * 40
    boxes = torch.cat([centres - sizes / 2, centres + sizes / 2], dim=-1)
    scores = torch.rand(groups, boxes.shape[1], generator=g)
    return boxes, scores


class _NMS(torch.nn.Module):

    def __init__(self, max_per_group, iou, score_thr):
        super().__init__()
        self.args = (max_per_group, iou, score_thr)

    def forward(self, boxes, scores):
        return batched_nms_indices(boxes, scores, *self.args)


@pytest.mark.parametrize('max_per_group', [5, 1000])
def test_nms_equals_mmcv_batched_nms(max_per_group):
    boxes, scores = _clustered_boxes(groups=3, n=120, seed=0)
    module = _NMS(max_per_group, 0.5, 0.3)
    # reference: mmcv's batched_nms on all groups at once, scores > thr
    flat_boxes, flat_scores = boxes.reshape(-1, 4), scores.reshape(-1)
    ids = torch.arange(3).repeat_interleave(boxes.shape[1])
    valid = (flat_scores > 0.3).nonzero().squeeze(1)
    _, keep = batched_nms(flat_boxes[valid], flat_scores[valid], ids[valid],
                          dict(type='nms', iou_threshold=0.5))
    keep = valid[keep]
    expected = set()
    for group in range(3):
        in_group = keep[ids[keep] == group][:max_per_group]
        expected |= {(group, int(i) % boxes.shape[1]) for i in in_group}
    assert len(expected) > 10 and len(expected) < (scores > 0.3).sum()

    group, index = module(boxes, scores)
    assert set(zip(group.tolist(), index.tolist())) == expected
    onnx_group, onnx_index = _run_onnx(module, (boxes, scores),
                                       ['boxes', 'scores'], {
                                           'boxes': {
                                               1: 'n'
                                           },
                                           'scores': {
                                               1: 'n'
                                           }
                                       })
    assert set(zip(onnx_group.tolist(), onnx_index.tolist())) == expected
    # within a group, kept boxes come in descending score order
    for g in range(3):
        kept = scores[g, onnx_index[onnx_group == g]]
        assert torch.all(kept[:-1] >= kept[1:])


def test_paste_masks_equals_mmdet():
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
    torch.manual_seed(2)
    masks = torch.rand(4, 1, 28, 28)
    boxes = torch.tensor([[10., 12., 60., 50.], [0., 0., 100., 80.],
                          [70.3, 20.7, 99.9, 79.1], [5., 5., 5., 30.]])
    like = torch.zeros(1, 3, 80, 100)
    ref, _ = _do_paste_mask(masks, boxes, 80, 100, skip_empty=False)
    torch.testing.assert_close(paste_masks(masks, boxes, like), ref)


def test_single_level_extractor_traced_on_one_level_runs_all_levels():
    """mmdet's SingleRoIExtractor skips levels no RoI maps to; traced with
    small RoIs only, the graph must still pool large RoIs from their own
    (coarse) level, as mmdet does in PyTorch."""
    import types

    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor

    from panet_mmdet.deployment.detector import single_level_forward_traceable
    torch.manual_seed(3)
    extractor = SingleRoIExtractor(
        dict(type='RoIAlign', output_size=7, sampling_ratio=0),
        out_channels=4,
        featmap_strides=[4, 8, 16, 32]).eval()
    feats = tuple(
        torch.randn(1, 4, 512 // s, 512 // s) for s in (4, 8, 16, 32))
    small = torch.tensor([[0., 10., 10., 30., 30.], [0., 50., 60., 70., 75.]])
    # scales 20, 150, 300, 512: levels 0, 1, 2, 3 (mmdet's mapping)
    mixed = torch.tensor([[0., 10., 10., 30., 30.], [0., 0., 0., 150., 150.],
                          [0., 100., 50., 400., 350.],
                          [0., 0., 0., 512., 512.]])
    assert extractor.map_roi_levels(mixed, 4).tolist() == [0, 1, 2, 3]
    assert set(extractor.map_roi_levels(small, 4).tolist()) == {0}
    with torch.no_grad():
        ref = extractor(feats, mixed)
    extractor.roi_layers = torch.nn.ModuleList(
        ExportableRoIAlign.from_mmcv(layer) for layer in extractor.roi_layers)
    extractor.forward = types.MethodType(single_level_forward_traceable,
                                         extractor)
    with torch.no_grad():
        assert torch.equal(extractor(feats, mixed), ref)

    class Wrap(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.extractor = extractor

        def forward(self, rois, *feats):
            return self.extractor(feats, rois)

    buf = io.BytesIO()
    names = ['rois'] + [f'f{i}' for i in range(4)]
    with torch.no_grad():
        torch.onnx.export(
            Wrap(), (small, *feats),
            buf,
            dynamo=False,
            opset_version=16,
            input_names=names,
            dynamic_axes={'rois': {
                0: 'n'
            }})
    session = ort.InferenceSession(
        buf.getvalue(), providers=['CPUExecutionProvider'])
    out, = session.run(
        None, dict(zip(names, [mixed.numpy()] + [f.numpy() for f in feats])))
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-5)
    assert np.abs(out[3]).max() > 0.1  # the level-3 RoI is pooled


def test_onnx_detector_refuses_a_provider_it_cannot_use(monkeypatch):
    """A provider this ONNX Runtime lacks (CUDA with the CPU package), or
    one that fails to start, is an error, not a silent CPU run."""
    import onnxruntime as ort

    from panet_mmdet.deployment.onnx_infer import PROVIDERS
    from panet_mmdet.deployment.runtime import OnnxDetector
    assert 'CUDAExecutionProvider' not in ort.get_available_providers()
    with pytest.raises(
            ValueError,
            match=r"\['CUDAExecutionProvider'\] are "
            'not in this ONNX Runtime.*onnxruntime-gpu'):
        OnnxDetector('model.onnx', providers=PROVIDERS['cuda'])

    class Session:  # onnxruntime-gpu without the CUDA libraries it needs

        def __init__(self, path, options, providers):
            pass

        def get_providers(self):
            return ['CPUExecutionProvider']

    monkeypatch.setattr(ort, 'get_available_providers',
                        lambda: PROVIDERS['cuda'])
    monkeypatch.setattr(ort, 'InferenceSession', Session)
    with pytest.raises(
            RuntimeError,
            match=r"could not start \['CUDAExecutionProvider'\]"):
        OnnxDetector('model.onnx', providers=PROVIDERS['cuda'])
