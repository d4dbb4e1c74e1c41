"""Bad inputs, numerics, determinism and checkpoints of the full PANet
model."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

import panet_mmdet  # noqa: F401
from conftest import total_loss

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PANET = osp.join(ROOT, 'configs', 'demo', 'panet_r18_bufpn-gn_demo.py')
STOCK = osp.join(ROOT, 'configs', 'demo', 'mask-rcnn_r18_fpn-gn_demo.py')


def _model(config=PANET, seed=0, pad=32):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.data_preprocessor.pad_size_divisor = pad
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _packed(shapes, num_items, seed=0):
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(seed)
    return demo_mm_inputs(
        len(shapes), [[3, h, w] for h, w in shapes],
        num_items=list(num_items),
        num_classes=3,
        with_mask=True)


def _train_and_predict(model, packed, shapes):
    model.train()
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    total = total_loss(losses)
    assert torch.isfinite(total), losses
    total.backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name
    model.eval()
    with torch.no_grad():
        results = model(
            **model.data_preprocessor(packed, False), mode='predict')
    for res, (h, w) in zip(results, shapes):
        inst = res.pred_instances
        assert inst.masks.shape[1:] == (h, w)
        assert inst.bboxes.shape == (len(inst.scores), 4)
        assert torch.isfinite(inst.bboxes).all()
    return losses, results


@pytest.mark.parametrize('case, shapes, num_items, pad', [
    ('one image without objects', [(128, 160), (96, 128)], (3, 0), 32),
    ('no image has objects', [(128, 160), (96, 128)], (0, 0), 32),
    ('image smaller than the coarsest stride', [(24, 20)], (1, ), 1),
    ('odd size, no padding', [(333, 517)], (2, ), 1),
    ('extreme aspect ratio', [(64, 1024)], (2, ), 32),
])
def test_inputs_train_and_predict(case, shapes, num_items, pad):
    model = _model(pad=pad)
    losses, _ = _train_and_predict(model, _packed(shapes, num_items), shapes)
    if sum(num_items) == 0:
        assert float(losses['loss_mask'].detach().sum()) == 0.0


def _roi_head_inputs(model, packed):
    data = model.data_preprocessor(packed, True)
    x = model.extract_feat(data['inputs'])
    return x, data['data_samples']


def test_zero_proposals_reach_the_roi_head():
    model = _model()
    shapes = [(128, 160), (96, 128)]
    packed = _packed(shapes, (2, 1))
    model.train()
    x, samples = _roi_head_inputs(model, packed)

    def empty():  # mmdet's loss() moves 'bboxes' to 'priors': fresh lists
        return [
            InstanceData(
                bboxes=torch.zeros(0, 4),
                scores=torch.zeros(0),
                labels=torch.zeros(0, dtype=torch.long)) for _ in samples
        ]

    # training: the sampler adds the ground truth as proposals
    losses = model.roi_head.loss(x, empty(), samples)
    assert torch.isfinite(total_loss(losses))
    # testing: empty detections of the right shapes
    model.eval()
    with torch.no_grad():
        results = model.roi_head.predict(x, empty(), samples, rescale=True)
    for res, (h, w) in zip(results, shapes):
        assert res.bboxes.shape == (0, 4)
        assert res.masks.shape == (0, h, w)


def test_degenerate_proposals():
    model = _model()
    shapes = [(128, 160)]
    packed = _packed(shapes, (2, ))
    x, samples = _roi_head_inputs(model, packed)
    boxes = torch.tensor([
        [10., 10., 10., 40.],  # zero width
        [20., 30., 60., 30.],  # zero height
        [50., 50., 50., 50.],  # a point
        [0., 0., 159., 127.]
    ])
    proposals = [
        InstanceData(
            bboxes=boxes,
            scores=torch.ones(4),
            labels=torch.zeros(4, dtype=torch.long))
    ]
    model.train()
    assert torch.isfinite(
        total_loss(model.roi_head.loss(x, proposals, samples)))
    proposals = [
        InstanceData(
            bboxes=boxes,
            scores=torch.ones(4),
            labels=torch.zeros(4, dtype=torch.long))
    ]
    model.eval()
    with torch.no_grad():
        results = model.roi_head.predict(x, proposals, samples, rescale=True)
    assert torch.isfinite(results[0].bboxes).all()
    assert results[0].masks.shape[1:] == (128, 160)


def test_losses_and_gradients_stay_finite_over_a_short_run():
    model = _model()
    shapes = [(128, 160), (96, 128)]
    packed = _packed(shapes, (4, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    history = []
    # 16 steps: the narrow demo heads' loss first rises (more positive RoIs
    # with regression targets) and is back at its start after about 8
    for _ in range(16):
        losses = model(**model.data_preprocessor(packed, True), mode='loss')
        total = total_loss(losses)
        assert torch.isfinite(total)
        opt.zero_grad()
        total.backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all(), name
        opt.step()
        history.append(float(total))
    assert history[-1] < history[0]


def test_same_seed_same_losses():
    shapes = [(128, 160), (96, 128)]
    runs = []
    for _ in range(2):
        model = _model(seed=3)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        packed = _packed(shapes, (3, 2), seed=5)
        torch.manual_seed(7)
        model.train()
        losses = []
        for _ in range(3):
            out = model(**model.data_preprocessor(packed, True), mode='loss')
            total = total_loss(out)
            opt.zero_grad()
            total.backward()
            opt.step()
            losses.append(float(total))
        runs.append(losses)
    assert runs[0] == runs[1]


def test_bf16_autocast_is_finite_and_close_to_fp32():
    model = _model()
    shapes = [(128, 160)]
    packed = _packed(shapes, (3, ))
    model.eval()
    data = model.data_preprocessor(packed, False)
    with torch.no_grad():
        x32 = model.extract_feat(data['inputs'])
        with torch.autocast('cpu', dtype=torch.bfloat16):
            x16 = model.extract_feat(data['inputs'])
        rois = torch.tensor([[0., 10., 12., 90., 70.],
                             [0., 40., 30., 150., 120.]])
        f32 = model.roi_head.bbox_roi_extractor(x32[:4], rois)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            f16 = model.roi_head.bbox_roi_extractor(x16[:4], rois)
            masks16 = model.roi_head.mask_head(
                model.roi_head.mask_roi_extractor(x16[:4], rois))
    assert torch.isfinite(f16.float()).all() and torch.isfinite(
        masks16.float()).all()
    # bf16 keeps 8 bits of mantissa: about 1% relative error per op
    rel = (f16.float() - f32).norm() / f32.norm()
    assert rel < 0.05
    # training the RoI heads under bf16 autocast gives finite losses and
    # gradients. (Proposals come from an fp32 RPN pass: mmcv's CPU NMS has no
    # bf16 kernel, which fails stock Mask R-CNN alike.)
    model.train()
    data = model.data_preprocessor(packed, True)
    with torch.no_grad():
        x32 = model.extract_feat(data['inputs'])
        proposals = model.rpn_head.predict(
            x32, data['data_samples'], rescale=False)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x = model.extract_feat(data['inputs'])
        losses = model.roi_head.loss(x, proposals, data['data_samples'])
    total = total_loss(losses).float()
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.roi_head.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_checkpoint_roundtrip_gives_identical_predictions(tmp_path):
    from mmengine.runner import load_checkpoint, save_checkpoint
    model = _model(seed=1)
    shapes = [(128, 160)]
    packed = _packed(shapes, (3, ))
    model.eval()
    path = str(tmp_path / 'panet.pth')
    save_checkpoint(model.state_dict(), path)
    fresh = _model(seed=2)
    fresh.eval()
    load_checkpoint(fresh, path, map_location='cpu', strict=True)
    with torch.no_grad():
        a = model(**model.data_preprocessor(packed, False), mode='predict')
        b = fresh(**fresh.data_preprocessor(packed, False), mode='predict')
    torch.testing.assert_close(a[0].pred_instances.bboxes,
                               b[0].pred_instances.bboxes)
    torch.testing.assert_close(a[0].pred_instances.masks,
                               b[0].pred_instances.masks)


def test_stock_checkpoint_into_panet_loads_what_matches(tmp_path, caplog):
    from mmengine.runner import load_checkpoint, save_checkpoint
    stock = _model(STOCK, seed=1)
    path = str(tmp_path / 'stock.pth')
    save_checkpoint(stock.state_dict(), path)
    panet = _model(PANET, seed=2)
    load_checkpoint(panet, path, map_location='cpu', strict=False)
    # the backbone and FPN part of the neck came over ...
    torch.testing.assert_close(panet.backbone.conv1.weight,
                               stock.backbone.conv1.weight)
    torch.testing.assert_close(panet.neck.lateral_convs[0].conv.weight,
                               stock.neck.lateral_convs[0].conv.weight)
    # ... PANet's own layers kept their init
    assert not any(k.startswith('neck.pa_convs') for k in stock.state_dict())
    with pytest.raises(RuntimeError, match='pa_convs|Missing key'):
        load_checkpoint(_model(PANET), path, map_location='cpu', strict=True)


def test_max_fusion_ties_and_negative_inputs():
    from panet_mmdet.models import AdaptiveFeaturePoolingRoIExtractor
    mods, outs = {}, {}
    rois = torch.tensor([[0., 0., 0., 16., 16.]])
    for fusion in ('max', 'sum'):
        m = AdaptiveFeaturePoolingRoIExtractor(
            dict(type='RoIAlign', output_size=2, sampling_ratio=1),
            1, [4, 8],
            layer_type='fc',
            layer_channels=3,
            act_cfg=None,
            fusion=fusion)
        with torch.no_grad():
            for layer in m.level_layers:  # identical layers: exact ties
                layer.fc.weight.copy_(
                    torch.tensor([[1., 0, 0, 0], [-1., 0, 0, 0], [0, 0, 0,
                                                                  0]]))
                layer.fc.bias.copy_(torch.tensor([0., 0., -2.]))
        feats = [torch.full((1, 1, 8, 8), 3.), torch.full((1, 1, 4, 4), 3.)]
        mods[fusion], outs[fusion] = m, m(feats, rois)
    # both levels give (3, -3, -2): max keeps it (negatives too), sum doubles
    torch.testing.assert_close(outs['max'], torch.tensor([[3., -3., -2.]]))
    torch.testing.assert_close(outs['sum'], torch.tensor([[6., -6., -4.]]))
    # the gradient of a tie is split between the levels, never dropped
    feats = [
        torch.full((1, 1, 8, 8), 3., requires_grad=True),
        torch.full((1, 1, 4, 4), 3., requires_grad=True)
    ]
    mods['max'](feats, rois)[0, 0].backward()
    assert feats[0].grad.sum().item() == pytest.approx(0.5)
    assert feats[1].grad.sum().item() == pytest.approx(0.5)
