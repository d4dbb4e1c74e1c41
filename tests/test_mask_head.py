"""FullyConnectedFusionMaskHead against a plain reference and FCNMaskHead."""
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from panet_mmdet.models import FullyConnectedFusionMaskHead

GN = dict(type='GN', num_groups=4, requires_grad=True)


def _head(num_convs=4,
          norm=False,
          class_agnostic=False,
          fc_relu=True,
          upsample_cfg=dict(type='deconv', scale_factor=2),
          roi_feat_size=14,
          **kwargs):
    torch.manual_seed(0)
    head = FullyConnectedFusionMaskHead(
        num_convs=num_convs,
        in_channels=8,
        conv_out_channels=16,
        num_classes=3,
        class_agnostic=class_agnostic,
        fc_relu=fc_relu,
        norm_cfg=GN if norm else None,
        upsample_cfg=upsample_cfg,
        roi_feat_size=roi_feat_size,
        **kwargs)
    head.init_weights()
    with torch.no_grad():  # a non-negligible fc path, non-trivial biases
        head.fc_logits.weight.normal_(0, 0.05)
        head.fc_logits.bias.normal_(0, 0.5)
        for name, p in head.named_parameters():
            if 'norm' in name:
                p.normal_(0, 0.5)
    return head


def _conv(x, cm, norm):
    y = F.conv2d(x, cm.conv.weight, cm.conv.bias, padding=1)
    if norm:
        y = F.group_norm(y, 4, cm.norm.weight, cm.norm.bias, 1e-5)
    return F.relu(y)


def reference(head, x, norm, fc_relu, branch_from):
    """PANet Sec. 3.3 / Fig. 4 written out with the head's tensors."""
    branch = None
    for i, cm in enumerate(head.convs, start=1):
        x = _conv(x, cm, norm)
        if i == branch_from:
            branch = x
    up = F.relu(
        F.conv_transpose2d(
            x, head.upsample.weight, head.upsample.bias, stride=2))
    fcn = F.conv2d(up, head.conv_logits.weight, head.conv_logits.bias)
    for cm in head.fc_convs:
        branch = _conv(branch, cm, norm)
    fc = F.linear(
        branch.flatten(1), head.fc_logits.weight, head.fc_logits.bias)
    if fc_relu:
        fc = F.relu(fc)
    return fcn + fc.view(-1, 1, 28, 28)


@pytest.mark.parametrize('num_convs, branch_from', [(4, 3), (3, 2), (3, 3),
                                                    (4, 1)])
@pytest.mark.parametrize('norm', [False, True])
@pytest.mark.parametrize('fc_relu', [True, False])
def test_matches_reference(num_convs, branch_from, norm, fc_relu):
    head = _head(num_convs, norm, fc_relu=fc_relu, fc_branch_from=branch_from)
    x = torch.randn(5, 8, 14, 14)
    out = head(x)
    assert out.shape == (5, 3, 28, 28)
    torch.testing.assert_close(
        out,
        reference(head, x, norm, fc_relu, branch_from),
        rtol=1e-4,
        atol=1e-5)


def test_default_branch_is_the_papers_conv3():
    assert _head(num_convs=4).fc_branch_from == 3  # stock extractor
    assert _head(num_convs=3).fc_branch_from == 2  # after adaptive pooling
    head = _head()
    assert [m.conv.out_channels for m in head.fc_convs] == [16, 8]
    assert head.fc_logits.in_features == 8 * 14 * 14
    assert head.fc_logits.out_features == 28 * 28


def test_fc_init():
    torch.manual_seed(0)
    head = FullyConnectedFusionMaskHead(num_classes=80)
    head.init_weights()
    assert head.fc_logits.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert head.fc_logits.bias.abs().sum() == 0
    n_fc = sum(p.numel() for p in head.fc_logits.parameters())
    assert n_fc == 128 * 14 * 14 * 784 + 784  # about 19.7 M


@pytest.mark.parametrize('class_agnostic', [False, True])
def test_zero_fc_path_equals_fcn_mask_head(class_agnostic):
    head = _head(num_convs=4, norm=True, class_agnostic=class_agnostic)
    with torch.no_grad():
        head.fc_logits.weight.zero_()
        head.fc_logits.bias.zero_()
    fcn = FCNMaskHead(
        num_convs=4,
        in_channels=8,
        conv_out_channels=16,
        num_classes=3,
        class_agnostic=class_agnostic,
        norm_cfg=GN)
    result = fcn.load_state_dict(head.state_dict(), strict=False)
    assert result.missing_keys == []
    assert all(
        k.startswith(('fc_convs', 'fc_logits'))
        for k in result.unexpected_keys)
    x = torch.randn(4, 8, 14, 14)
    out = head(x)
    assert out.shape == (4, 1 if class_agnostic else 3, 28, 28)
    torch.testing.assert_close(out, fcn(x))
    # and the fc map is one (n, 1, M, M) map added to every class
    with torch.no_grad():
        head.fc_logits.bias.fill_(0.7)
    diff = head(x) - fcn(x)
    torch.testing.assert_close(diff, torch.full_like(diff, 0.7))


@pytest.mark.parametrize('upsample_cfg, size', [
    (dict(type='deconv', scale_factor=2), 28),
    (dict(type='bilinear', scale_factor=2), 28),
    (dict(type='nearest', scale_factor=4), 56),
    (dict(type='carafe', scale_factor=2), 28),
    (dict(type=None), 14),
])
def test_mask_size_follows_upsampling(upsample_cfg, size):
    head = _head(upsample_cfg=upsample_cfg)
    assert head.mask_size == (size, size)
    assert head.fc_logits.out_features == size * size
    if upsample_cfg['type'] == 'carafe' and not torch.cuda.is_available():
        return  # mmcv's CARAFE op has no CPU kernel
    assert head(torch.randn(2, 8, 14, 14)).shape == (2, 3, size, size)
    head7 = _head(roi_feat_size=7, upsample_cfg=upsample_cfg)
    assert head7(torch.randn(2, 8, 7, 7)).shape[-1] == size // 2


def test_zero_rois_and_gradients():
    head = _head(num_convs=3, norm=True)
    assert head(torch.zeros(0, 8, 14, 14)).shape == (0, 3, 28, 28)
    x = torch.randn(3, 8, 14, 14, requires_grad=True)
    head(x).square().mean().backward()
    assert x.grad.abs().sum() > 0
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_mask_loss_decreases_when_overfitting_a_small_batch():
    """A few dozen steps on fixed RoIs: mmdet's loss, through our logits."""
    torch.manual_seed(0)
    head = FullyConnectedFusionMaskHead(
        num_convs=3, in_channels=8, conv_out_channels=16, num_classes=3)
    head.init_weights()
    x = torch.randn(6, 8, 14, 14)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    yy, xx = torch.meshgrid(torch.arange(28), torch.arange(28), indexing='ij')
    targets = torch.stack([((xx - 6 - 3 * i)**2 + (yy - 14)**2 < 60 + 10 * i)
                           for i in range(6)]).float()
    opt = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(40):
        preds = head(x)
        loss = head.loss_mask(preds, targets, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize('rescale', [True, False])
def test_predict_by_feat_returns_image_sized_masks(rescale):
    head = _head(num_convs=3)
    results = [
        InstanceData(
            bboxes=torch.tensor([[10., 12., 60., 50.], [0., 0., 20., 30.]]),
            labels=torch.tensor([0, 2]),
            scores=torch.tensor([0.9, 0.6]))
    ]
    img_meta = [
        dict(
            img_shape=(96, 128), ori_shape=(192, 256), scale_factor=(0.5, 0.5))
    ]
    preds = head(torch.randn(2, 8, 14, 14))
    out = head.predict_by_feat((preds, ),
                               results,
                               img_meta,
                               ConfigDict(mask_thr_binary=0.5),
                               rescale=rescale)
    expected = (192, 256) if rescale else (96, 128)
    assert out[0].masks.shape == (2, *expected)
    assert out[0].masks.dtype == torch.bool


@pytest.mark.parametrize('kwargs, name', [
    (dict(fc_branch_from=5), 'fc_branch_from'),
    (dict(fc_branch_from=0), 'fc_branch_from'),
    (dict(num_fc_convs=0), 'num_fc_convs'),
    (dict(conv_out_channels=1), 'conv_out_channels'),
    (dict(num_convs=0), 'num_convs'),
])
def test_bad_arguments_raise_value_error(kwargs, name):
    args = dict(
        num_convs=4, in_channels=8, conv_out_channels=16, num_classes=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        FullyConnectedFusionMaskHead(**args)


def test_wrong_roi_size_raises_value_error():
    head = _head()
    with pytest.raises(ValueError, match='roi_feat_size'):
        head(torch.randn(2, 8, 7, 7))
