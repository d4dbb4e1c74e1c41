"""BottomUpAugmentedFPN: the paper's recurrence, FPN compatibility, drop-in."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmdet.models.necks import FPN, PAFPN

from panet_mmdet.models import BottomUpAugmentedFPN

IN_CHANNELS = [8, 16, 24, 32]
SIZES = [(33, 40), (17, 20), (9, 10), (5, 5)]  # a 130x160 image, ceil halving
GN = dict(type='GN', num_groups=4, requires_grad=True)


def _inputs(in_channels=IN_CHANNELS,
            sizes=SIZES,
            batch=2,
            seed=0,
            requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, c, h, w, generator=g).requires_grad_(requires_grad)
        for c, (h, w) in zip(in_channels, sizes)
    ]


def _randomise(module, seed=1):
    """Non-trivial weights everywhere (incl. norm affine params and biases)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module


def _conv_block(x, cm, stride, padding, norm, act):
    """conv -> optional GN -> optional ReLU from a ConvModule's tensors."""
    y = F.conv2d(
        x, cm.conv.weight, cm.conv.bias, stride=stride, padding=padding)
    if norm:
        y = F.group_norm(
            y, GN['num_groups'], cm.norm.weight, cm.norm.bias, eps=1e-5)
    return F.relu(y) if act else y


def reference_panet_neck(neck,
                         inputs,
                         fusion,
                         downsample,
                         norm,
                         act=True,
                         fpn_norm=None):
    """PANet Sec. 3.1 written out: P from a stock FPN with the same weights,
    then N2 = P2, N(i+1) = conv3x3(down(N(i)) (+) P(i+1)), then FPN's
    max-pool extra level on N5. ``norm``/``act``: GN/ReLU in the PA convs;
    ``fpn_norm``: GN in FPN's convs (defaults to ``norm``)."""
    fpn_norm = norm if fpn_norm is None else fpn_norm
    fpn = FPN(
        IN_CHANNELS,
        neck.out_channels,
        num_outs=len(IN_CHANNELS),
        norm_cfg=GN if fpn_norm else None)
    missing, unexpected = fpn.load_state_dict(neck.state_dict(), strict=False)
    assert not missing
    p = fpn(inputs)
    n = [p[0]]
    for i in range(len(p) - 1):
        if downsample == 'conv':
            d = _conv_block(n[i], neck.downsample_convs[i], 2, 1, norm, act)
        else:
            d = F.max_pool2d(n[i], 3, 2, 1)
        if fusion == 'add':
            s = d + p[i + 1]
        else:
            s = _conv_block(
                torch.cat([d, p[i + 1]], 1), neck.fusion_convs[i], 1, 0, norm,
                act)
        n.append(_conv_block(s, neck.pa_convs[i], 1, 1, norm, act))
    n.append(F.max_pool2d(n[-1], 1, stride=2))
    return n


@pytest.mark.parametrize('fusion', ['add', 'concat'])
@pytest.mark.parametrize('norm', [False, True])
@pytest.mark.parametrize('downsample', ['conv', 'maxpool'])
def test_matches_reference(fusion, norm, downsample):
    torch.manual_seed(0)
    neck = BottomUpAugmentedFPN(
        IN_CHANNELS,
        16,
        num_outs=5,
        norm_cfg=GN if norm else None,
        fusion=fusion,
        downsample=downsample)
    _randomise(neck)
    inputs = _inputs()
    out = neck(inputs)
    ref = reference_panet_neck(neck, inputs, fusion, downsample, norm)
    assert len(out) == len(ref) == 5
    for o, r in zip(out, ref):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)


def test_pa_activation_and_norm_are_configurable_separately():
    neck = BottomUpAugmentedFPN(
        IN_CHANNELS,
        16,
        num_outs=4,
        norm_cfg=GN,
        pa_norm_cfg=None,
        pa_act_cfg=None)
    assert neck.lateral_convs[0].with_norm and neck.fpn_convs[0].with_norm
    pa_conv = neck.pa_convs[0]
    assert not pa_conv.with_norm and not pa_conv.with_activation
    default = BottomUpAugmentedFPN(IN_CHANNELS, 16, num_outs=4, norm_cfg=GN)
    pa_conv = default.pa_convs[0]
    assert pa_conv.with_norm and pa_conv.with_activation
    assert default.downsample_convs[0].with_activation
    assert not default.fpn_convs[0].with_activation  # FPN's stay as in FPN
    _randomise(neck)
    inputs = _inputs()
    ref = reference_panet_neck(
        neck, inputs, 'add', 'conv', norm=False, act=False, fpn_norm=True)
    for o, r in zip(neck(inputs), ref):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)


def test_pa_bias_before_gn_is_kept_and_not_absorbed():
    """The authors' bottom-up convs have a bias before GN (their FPN.py);
    GN normalises groups of channels, so a per-channel bias changes N3..N5:
    pa_bias=True keeps it, and the reference (which applies the conv's
    bias) still matches."""
    neck = BottomUpAugmentedFPN(
        IN_CHANNELS, 16, num_outs=5, norm_cfg=GN, pa_bias=True)
    assert neck.pa_convs[0].conv.bias is not None
    assert neck.downsample_convs[0].conv.bias is not None
    assert neck.fpn_convs[0].conv.bias is None  # FPN's stay as in FPN
    assert BottomUpAugmentedFPN(
        IN_CHANNELS, 16, num_outs=5, norm_cfg=GN).pa_convs[0].conv.bias is None
    _randomise(neck)
    inputs = _inputs()
    out = neck(inputs)
    for o, r in zip(
            out, reference_panet_neck(neck, inputs, 'add', 'conv', norm=True)):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        for m in list(neck.pa_convs) + list(neck.downsample_convs):
            m.conv.bias.zero_()
    without = neck(inputs)
    torch.testing.assert_close(without[0], out[0])  # N2 = P2
    assert (without[1] - out[1]).abs().max() > 1e-2


def test_first_level_and_sizes_equal_fpn():
    """N2 is FPN's P2 exactly; every output has FPN's size."""
    neck = _randomise(BottomUpAugmentedFPN(IN_CHANNELS, 16, num_outs=6))
    fpn = FPN(IN_CHANNELS, 16, num_outs=6)
    fpn.load_state_dict(neck.state_dict(), strict=False)
    inputs = _inputs()
    out, ref = neck(inputs), fpn(inputs)
    torch.testing.assert_close(out[0], ref[0])
    assert [o.shape for o in out] == [r.shape for r in ref]
    # the augmented levels do differ from FPN's
    assert not torch.allclose(out[2], ref[2])


def test_every_parameter_of_n_i_reaches_n_i_plus_1():
    """What separates the paper from mmdet's PAFPN (see class docstring)."""
    neck = _randomise(BottomUpAugmentedFPN(IN_CHANNELS, 16, num_outs=4))
    out = neck(_inputs())
    for level in range(1, 3):  # N3, N4 (indices into out)
        params_of_n = {
            n
            for n, p in neck.named_parameters() if torch.autograd.grad(
                out[level].sum(), p, retain_graph=True, allow_unused=True)[0]
            is not None
        }
        for name in params_of_n:
            p = dict(neck.named_parameters())[name]
            g = torch.autograd.grad(
                out[level + 1].square().sum(),
                p,
                retain_graph=True,
                allow_unused=True)[0]
            assert g is not None and g.abs().sum() > 0, (level, name)
    # N5 depends on the 3x3 conv that produced N3 (pa_convs[0]) ...
    g = torch.autograd.grad(
        out[3].square().sum(), neck.pa_convs[0].conv.weight,
        allow_unused=True)[0]
    assert g is not None and g.abs().sum() > 0
    # ... whereas in mmdet's PAFPN the conv that produces N3 is a dead end.
    pafpn = _randomise(PAFPN(IN_CHANNELS, 16, num_outs=4))
    out = pafpn(_inputs())
    g = torch.autograd.grad(
        out[3].sum(), pafpn.pafpn_convs[0].conv.weight, allow_unused=True)[0]
    assert g is None


@pytest.mark.parametrize('fusion', ['add', 'concat'])
def test_gradients_reach_every_input_and_parameter(fusion):
    neck = _randomise(
        BottomUpAugmentedFPN(
            IN_CHANNELS, 16, num_outs=5, norm_cfg=GN, fusion=fusion))
    inputs = _inputs(requires_grad=True)
    sum(o.square().mean() for o in neck(inputs)).backward()
    for i, x in enumerate(inputs):
        assert x.grad is not None and x.grad.abs().sum() > 0, i
    for name, p in neck.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kwargs', [
    dict(add_extra_convs='on_input'),
    dict(add_extra_convs='on_lateral'),
    dict(add_extra_convs='on_output', relu_before_extra_convs=True),
    dict(add_extra_convs=True, num_outs=6),
    dict(start_level=1, add_extra_convs='on_input', num_outs=5),
    dict(start_level=1, end_level=2, num_outs=2),
    dict(no_norm_on_lateral=True, norm_cfg=GN),
    dict(upsample_cfg=dict(mode='bilinear', align_corners=False)),
])
def test_takes_every_fpn_argument_and_builds_extras_like_fpn(kwargs):
    kwargs = dict(dict(num_outs=5), **kwargs)
    neck = _randomise(BottomUpAugmentedFPN(IN_CHANNELS, 16, **kwargs))
    fpn = FPN(IN_CHANNELS, 16, **kwargs)
    assert fpn.load_state_dict(
        neck.state_dict(), strict=False).missing_keys == []
    inputs = _inputs()
    out, ref = neck(inputs), fpn(inputs)
    assert [o.shape for o in out] == [r.shape for r in ref]
    torch.testing.assert_close(out[0], ref[0])
    used = neck.backbone_end_level - neck.start_level
    if len(out) > used:
        # the first extra level is FPN's extra op applied to the augmented
        # pyramid: recompute it from out[used - 1] (or the inputs/laterals).
        source = kwargs.get('add_extra_convs', False)
        if source in (True, 'on_input'):
            expected = neck.fpn_convs[used](
                inputs[neck.backbone_end_level - 1])
            torch.testing.assert_close(out[used], expected)
        elif source == 'on_output':
            torch.testing.assert_close(out[used],
                                       neck.fpn_convs[used](out[used - 1]))
        elif source is False:
            torch.testing.assert_close(
                out[used], F.max_pool2d(out[used - 1], 1, stride=2))


@pytest.mark.parametrize(
    'in_channels', [[64, 128, 256, 512], [256, 512, 1024, 2048], [32, 64, 96]])
def test_any_channel_list_and_odd_image_sizes(in_channels):
    """A 333x517 image without padding through ResNet-like strides."""
    sizes, h, w = [], 333, 517
    for _ in range(5):  # stem /2 (+ /2 maxpool) then stages: ceil halving
        h, w = (h + 1) // 2, (w + 1) // 2
        sizes.append((h, w))
    sizes = sizes[1:1 + len(in_channels)]
    inputs = _inputs(in_channels, sizes, batch=1)
    for add_extra in (False, 'on_input'):
        neck = BottomUpAugmentedFPN(
            in_channels,
            8,
            num_outs=len(in_channels) + 1,
            add_extra_convs=add_extra)
        fpn = FPN(
            in_channels,
            8,
            num_outs=len(in_channels) + 1,
            add_extra_convs=add_extra)
        assert [o.shape
                for o in neck(inputs)] == [o.shape for o in fpn(inputs)]


def test_non_halving_strides_do_not_break():
    """Backbones that floor instead of ceil: sizes still follow FPN's."""
    sizes = [(33, 41), (16, 20), (8, 10), (4, 5)]
    for downsample in ('conv', 'maxpool'):
        neck = BottomUpAugmentedFPN(
            IN_CHANNELS, 8, num_outs=5, downsample=downsample)
        fpn = FPN(IN_CHANNELS, 8, num_outs=5)
        inputs = _inputs(sizes=sizes)
        assert [o.shape
                for o in neck(inputs)] == [o.shape for o in fpn(inputs)]


@pytest.mark.parametrize('kwargs, name', [
    (dict(in_channels=[8, 16], start_level=2, num_outs=2), 'start_level'),
    (dict(in_channels=[8, 16, 24], end_level=5, num_outs=3), 'end_level'),
    (dict(in_channels=[8, 16, 24, 32], num_outs=3), 'num_outs'),
    (dict(in_channels=[8, 16, 24], end_level=1, num_outs=3), 'num_outs'),
    (dict(in_channels=[], num_outs=1), 'in_channels'),
    (dict(in_channels=[8, 16, 24, 32], num_outs=5, fusion='max'), 'fusion'),
    (dict(in_channels=[8, 16, 24, 32], num_outs=5,
          downsample='avgpool'), 'downsample'),
    (dict(in_channels=[8, 16, 24, 32], num_outs=5,
          add_extra_convs='on_top'), 'add_extra_convs'),
    (dict(in_channels=[8, 16, 24, 32], num_outs=5,
          pa_norm_cfg='GN'), 'pa_norm_cfg'),
    (dict(in_channels=[8, 16, 24, 32], num_outs=5, pa_bias='yes'), 'pa_bias'),
])
def test_bad_arguments_raise_value_error(kwargs, name):
    kwargs = dict(dict(out_channels=8), **kwargs)
    with pytest.raises(ValueError, match=name):
        BottomUpAugmentedFPN(**kwargs)


def test_mismatched_inputs_raise_value_error():
    neck = BottomUpAugmentedFPN(IN_CHANNELS, 8, num_outs=4)
    with pytest.raises(ValueError, match='in_channels'):
        neck(_inputs()[:3])
    with pytest.raises(ValueError, match='in_channels'):
        neck(_inputs([8, 16, 24, 48]))


def test_state_dict_roundtrip_and_deepcopy():
    neck = _randomise(
        BottomUpAugmentedFPN(IN_CHANNELS, 8, num_outs=5, fusion='concat'))
    clone = copy.deepcopy(neck)
    fresh = BottomUpAugmentedFPN(IN_CHANNELS, 8, num_outs=5, fusion='concat')
    fresh.load_state_dict(clone.state_dict())
    inputs = _inputs()
    for a, b in zip(neck(inputs), fresh(inputs)):
        torch.testing.assert_close(a, b)
