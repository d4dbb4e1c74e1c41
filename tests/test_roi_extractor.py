"""AdaptiveFeaturePoolingRoIExtractor against a plain per-level reference."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.ops import roi_align

from panet_mmdet.models import AdaptiveFeaturePoolingRoIExtractor

STRIDES = [4, 8, 16, 32]
C = 8
GN = dict(type='GN', num_groups=4, requires_grad=True)


def _feats(
        img=(96, 128), batch=2, seed=0, dtype=torch.float32,
        requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, C, -(-img[0] // s), -(-img[1] // s),
                    generator=g).to(dtype).requires_grad_(requires_grad)
        for s in STRIDES
    ]


def _rois(n=6, img=(96, 128), batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([img[1], img[0]]) * 0.7
    wh = 4 + torch.rand(
        n, 2, generator=g) * torch.tensor([img[1], img[0]]) * 0.5
    idx = torch.arange(n).remainder(batch).float().unsqueeze(1)
    return torch.cat([idx, xy, xy + wh], dim=1)


def _build(layer_type='conv',
           fusion='max',
           implementation='auto',
           norm=True,
           strides=STRIDES,
           size=7,
           **kwargs):
    torch.manual_seed(0)
    m = AdaptiveFeaturePoolingRoIExtractor(
        roi_layer=dict(type='RoIAlign', output_size=size, sampling_ratio=2),
        out_channels=C,
        featmap_strides=strides,
        layer_type=layer_type,
        layer_channels=16,
        fusion=fusion,
        implementation=implementation,
        norm_cfg=(GN if layer_type == 'conv' else dict(
            type='LN')) if norm else None,
        **kwargs)
    m.init_weights()
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():  # non-trivial norm affine params and biases
        for name, p in m.named_parameters():
            if 'norm' in name or name.endswith('bias'):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return m


def reference(m,
              feats,
              rois,
              layer_type,
              fusion,
              norm,
              size=7,
              strides=STRIDES):
    """PANet Sec. 3.2 written out: RoIAlign on each level in a loop, that
    level's own layer (from its weights), then element-wise max or sum."""
    outs = []
    for level, (feat, stride) in enumerate(zip(feats, strides)):
        x = roi_align(feat, rois, (size, size), 1.0 / stride, 2, 'avg', True)
        layer = m.level_layers[level]
        if layer_type == 'conv':
            y = F.conv2d(x, layer.conv.weight, layer.conv.bias, padding=1)
            if norm:
                y = F.group_norm(y, GN['num_groups'], layer.norm.weight,
                                 layer.norm.bias, 1e-5)
        else:
            y = F.linear(x.flatten(1), layer.fc.weight, layer.fc.bias)
            if norm:
                y = F.layer_norm(y, y.shape[1:], layer.norm.weight,
                                 layer.norm.bias, 1e-5)
        outs.append(F.relu(y))
    stacked = torch.stack(outs)
    return stacked.amax(0) if fusion == 'max' else stacked.sum(0)


@pytest.mark.parametrize('layer_type, implementation', [('conv', 'batched'),
                                                        ('conv', 'loop'),
                                                        ('fc', 'loop')])
@pytest.mark.parametrize('fusion', ['max', 'sum'])
@pytest.mark.parametrize('norm', [True, False])
def test_matches_reference(layer_type, fusion, implementation, norm):
    m = _build(layer_type, fusion, implementation, norm)
    assert m.implementation == implementation
    feats, rois = _feats(), _rois()
    out = m(feats, rois)
    expected_shape = (6, 16, 7, 7) if layer_type == 'conv' else (6, 16)
    assert out.shape == expected_shape
    torch.testing.assert_close(
        out,
        reference(m, feats, rois, layer_type, fusion, norm),
        rtol=1e-4,
        atol=1e-5)


def test_auto_implementation_choice():
    assert _build('conv').implementation == 'batched'
    assert _build('fc').implementation == 'loop'  # fc layers always loop
    assert _build('conv', norm=False).implementation == 'batched'
    bn = AdaptiveFeaturePoolingRoIExtractor(
        dict(type='RoIAlign', output_size=7),
        C,
        STRIDES,
        norm_cfg=dict(type='BN'))
    assert bn.implementation == 'loop'  # (Sync)BN must run as modules
    prelu = AdaptiveFeaturePoolingRoIExtractor(
        dict(type='RoIAlign', output_size=7),
        C,
        STRIDES,
        act_cfg=dict(type='PReLU'))
    assert prelu.implementation == 'loop'
    for kwargs in (dict(norm_cfg=dict(type='BN')), dict(layer_type='fc'),
                   dict(act_cfg=dict(type='PReLU'))):
        with pytest.raises(ValueError, match='implementation'):
            AdaptiveFeaturePoolingRoIExtractor(
                dict(type='RoIAlign', output_size=7),
                C,
                STRIDES,
                implementation='batched',
                **kwargs)


@pytest.mark.parametrize('layer_type', ['conv', 'fc'])
@pytest.mark.parametrize('fusion', ['max', 'sum'])
def test_unshared_layers_and_gradients_from_a_single_roi(layer_type, fusion):
    m = _build(layer_type, fusion)
    ptrs = {
        layer_params[0].data_ptr()
        for layer_params in (list(layer.parameters())
                             for layer in m.level_layers)
    }
    assert len(ptrs) == len(STRIDES)  # four separate weight tensors
    feats = _feats(requires_grad=True)
    rois = torch.tensor([[0., 20., 16., 90., 80.]])  # one RoI, all levels
    m(feats, rois).square().sum().backward()
    for level, f in enumerate(feats):
        assert f.grad is not None and f.grad.abs().sum() > 0, level
        assert f.grad[1].abs().sum() == 0  # the other image gets nothing
    for level, layer in enumerate(m.level_layers):
        for name, p in layer.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (level, name)


@pytest.mark.parametrize('layer_type', ['conv', 'fc'])
def test_single_level_equals_roi_align_then_layer(layer_type):
    m = _build(layer_type, strides=[8])
    feats, rois = _feats(), _rois()
    pooled = m.roi_layers[0](feats[1], rois)
    torch.testing.assert_close(m([feats[1]], rois), m.level_layers[0](pooled))


@pytest.mark.parametrize('layer_type, implementation', [('conv', 'batched'),
                                                        ('conv', 'loop'),
                                                        ('fc', 'loop')])
def test_zero_rois(layer_type, implementation):
    m = _build(layer_type, implementation=implementation)
    feats = _feats(requires_grad=True)
    out = m(feats, torch.zeros(0, 5))
    assert out.shape == ((0, 16, 7, 7) if layer_type == 'conv' else (0, 16))
    out.sum().backward()  # connected to the graph, no error
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize('layer_type', ['conv', 'fc'])
def test_zero_rois_still_run_syncbn_layers(layer_type):
    """A rank with zero RoIs must still enter SyncBN's collective (or the
    other ranks wait for it): with SyncBN in the level layers, each layer
    runs on the empty batch; without, the early empty output is used."""
    norm = dict(type='SyncBN')
    m = AdaptiveFeaturePoolingRoIExtractor(
        roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2),
        out_channels=C,
        featmap_strides=STRIDES,
        layer_type=layer_type,
        layer_channels=16,
        norm_cfg=norm).eval()  # eval: no process group on the CPU
    calls = []
    for layer in m.level_layers:
        layer.register_forward_hook(lambda *a: calls.append(1))
    out = m(_feats(), torch.zeros(0, 5))
    assert out.shape == ((0, 16, 7, 7) if layer_type == 'conv' else (0, 16))
    assert len(calls) == len(STRIDES)
    calls.clear()
    plain = _build(layer_type)
    for layer in plain.level_layers:
        layer.register_forward_hook(lambda *a: calls.append(1))
    plain(_feats(), torch.zeros(0, 5))
    assert not calls


def test_zero_rois_are_accepted_by_the_stock_heads():
    from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
    from mmdet.models.roi_heads.mask_heads import FCNMaskHead
    mask_afp = _build('conv', size=14)
    mask_head = FCNMaskHead(
        num_convs=3, in_channels=16, conv_out_channels=16, num_classes=3)
    assert mask_head(mask_afp(_feats(),
                              torch.zeros(0, 5))).shape == (0, 3, 28, 28)
    box_afp = _build('fc')
    box_head = ConvFCBBoxHead(
        num_shared_fcs=1,
        in_channels=16,
        roi_feat_size=1,
        fc_out_channels=32,
        num_classes=3)
    cls, reg = box_head(box_afp(_feats(), torch.zeros(0, 5)))
    assert cls.shape == (0, 4) and reg.shape == (0, 12)


@pytest.mark.parametrize('layer_type', ['conv', 'fc'])
def test_bf16_features_with_fp32_rois(layer_type):
    m = _build(layer_type)
    feats, rois = _feats(), _rois()
    ref = m(feats, rois)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = m([f.bfloat16() for f in feats], rois)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)


@pytest.fixture
def no_tf32():
    """fp32 on CUDA means fp32: convolutions default to TF32 (10-bit
    mantissa) otherwise, 1e-3 off."""
    saved = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    (torch.backends.cuda.matmul.allow_tf32,
     torch.backends.cudnn.allow_tf32) = saved


@pytest.mark.gpu
@pytest.mark.parametrize('layer_type', ['conv', 'fc'])
def test_fp16_cuda_matches_fp32(layer_type, no_tf32):
    m = _build(layer_type).cuda()
    feats, rois = [f.cuda() for f in _feats()], _rois().cuda()
    ref = m(feats, rois)
    torch.testing.assert_close(
        ref.cpu(), _build(layer_type)(_feats(), _rois()), rtol=1e-4, atol=1e-4)
    with torch.autocast('cuda', dtype=torch.float16):
        out = m([f.half() for f in feats], rois)
    torch.testing.assert_close(out.float(), ref, rtol=0.02, atol=0.02)
    loop = _build(layer_type, implementation='loop').cuda()
    torch.testing.assert_close(loop(feats, rois), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize('layer_type', ['conv', 'fc'])
def test_bf16_cuda_pools_in_fp32(layer_type, no_tf32):
    """mmcv's CUDA RoIAlign has no bf16 kernel: bf16 autocast still pools
    (in fp32) and stays close to fp32."""
    m = _build(layer_type).cuda()
    feats, rois = [f.cuda() for f in _feats()], _rois().cuda()
    ref = m(feats, rois)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        out = m([f.bfloat16() for f in feats], rois)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)


def test_roi_scale_factor_as_mmdet():
    m = _build('conv')
    feats, rois = _feats(), _rois()
    cx, cy = (rois[:, 1] + rois[:, 3]) / 2, (rois[:, 2] + rois[:, 4]) / 2
    w, h = rois[:, 3] - rois[:, 1], rois[:, 4] - rois[:, 2]
    scaled = torch.stack([
        rois[:, 0], cx - w * 0.75, cy - h * 0.75, cx + w * 0.75, cy + h * 0.75
    ], 1)
    torch.testing.assert_close(
        m(feats, rois, roi_scale_factor=1.5), m(feats, scaled))


@pytest.mark.parametrize('kwargs, name', [
    (dict(fusion='mean'), 'fusion'),
    (dict(layer_type='attention'), 'layer_type'),
    (dict(implementation='fast'), 'implementation'),
    (dict(featmap_strides=[]), 'featmap_strides'),
    (dict(layer_channels=0), 'layer_channels'),
])
def test_bad_arguments_raise_value_error(kwargs, name):
    args = dict(
        roi_layer=dict(type='RoIAlign', output_size=7),
        out_channels=C,
        featmap_strides=STRIDES)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        AdaptiveFeaturePoolingRoIExtractor(**args)


def test_mismatched_features_raise_value_error():
    m = _build('conv')
    feats, rois = _feats(), _rois()
    with pytest.raises(ValueError, match='out_channels'):
        m([torch.randn(2, C + 1, *f.shape[2:]) for f in feats], rois)
    with pytest.raises(ValueError, match='featmap_strides'):
        m(feats[:3], rois)
    with pytest.raises(ValueError, match='rois'):
        m(feats, rois[:, 1:])


def test_strided_feature_maps_pool_as_contiguous_ones():
    """mmcv's CPU RoIAlign reads the buffer as contiguous NCHW; channels-last
    maps (as some float64 convs return) must not pool garbage."""
    m = _build()
    feats, rois = _feats(), _rois()
    strided = [f.to(memory_format=torch.channels_last) for f in feats]
    assert not strided[0].is_contiguous()
    torch.testing.assert_close(m(strided, rois), m(feats, rois))
