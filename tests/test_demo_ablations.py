"""The demo ablation ladder (configs/demo/ablations/): each rung changes one
component of its parent and nothing else; the ladder starts at the stock demo
Mask R-CNN and ends at the PANet demo; the table and the costs work (the
runner: tests/test_run_ablation.py).
"""
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import panet_mmdet  # noqa: F401
from panet_mmdet.apis import build_detector
from conftest import ROOT

A = 'configs/demo/ablations/'
STOCK = 'configs/demo/mask-rcnn_r18_fpn-gn_demo.py'
PANET = 'configs/demo/panet_r18_bufpn-gn_demo.py'
# (config, its parent, the model parts the step may change)
AFP_PARTS = ('roi_head.bbox_roi_extractor', 'roi_head.bbox_head',
             'roi_head.mask_roi_extractor', 'roi_head.mask_head')
STEPS = [
    (A + 'mask-rcnn_r18_bufpn-gn_demo.py', STOCK, ('neck', )),
    (A + 'mask-rcnn-afp_r18_bufpn-gn_demo.py',
     A + 'mask-rcnn_r18_bufpn-gn_demo.py', AFP_PARTS),
    (A + 'panet-2fc_r18_bufpn-gn_demo.py',
     A + 'mask-rcnn-afp_r18_bufpn-gn_demo.py', ('roi_head.mask_head', )),
    (PANET, A + 'panet-2fc_r18_bufpn-gn_demo.py',
     ('roi_head.bbox_roi_extractor', 'roi_head.bbox_head')),
    # single components on the stock model
    (A + 'mask-rcnn-afp_r18_fpn-gn_demo.py', STOCK, AFP_PARTS),
    (A + 'mask-rcnn-ff_r18_fpn-gn_demo.py', STOCK, ('roi_head.mask_head', )),
]
LADDER = [STOCK] + [s[0] for s in STEPS[:4]]
# the module type each step brings in (the evidence that it is the component)
NEW_TYPES = {
    STEPS[0][0]: {'BottomUpAugmentedFPN'},
    STEPS[1][0]: {'AdaptiveFeaturePoolingRoIExtractor'},
    STEPS[2][0]: {'FullyConnectedFusionMaskHead'},
    STEPS[4][0]: {'AdaptiveFeaturePoolingRoIExtractor'},
    STEPS[5][0]: {'FullyConnectedFusionMaskHead'},
}


def _cfg(path):
    return Config.fromfile(osp.join(ROOT, path))


def _flatten(d, prefix=''):
    out = {}
    for k, v in d.items():
        key = f'{prefix}{k}'
        if isinstance(v, dict):
            out.update(_flatten(v, key + '.'))
        else:
            out[key] = v
    return out


def _under(key, parts):
    return any(key == p or key.startswith(p + '.') for p in parts)


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_every_ablation_config_is_in_a_step():
    found = sorted(A + f for f in os.listdir(osp.join(ROOT, A))
                   if f.endswith('.py'))
    assert found == sorted(s[0] for s in STEPS if s[0].startswith(A))


@pytest.mark.parametrize(
    'config,parent,parts', STEPS, ids=[osp.basename(s[0]) for s in STEPS])
def test_step_changes_one_component(config, parent, parts):
    child_cfg, parent_cfg = _cfg(config), _cfg(parent)
    # the config: every changed model key lies in the component's parts ...
    child, par = _flatten(child_cfg.model.to_dict()), _flatten(
        parent_cfg.model.to_dict())
    changed = {k for k in set(child) | set(par) if child.get(k) != par.get(k)}
    assert changed, f'{config} changes nothing'
    assert all(_under(k, parts) for k in changed), \
        sorted(k for k in changed if not _under(k, parts))
    # ... and nothing outside the model (data, schedule, optimizer, seed)
    for key in set(child_cfg.keys()) | set(parent_cfg.keys()):
        if key not in ('model', 'width', 'fc_width', 'norm_cfg', 'afp'):
            assert child_cfg.get(key) == parent_cfg.get(key), key
    # the built models: the same weights (names and shapes) outside the parts
    torch.manual_seed(0)
    child_model = build_detector(child_cfg)
    parent_model = build_detector(parent_cfg)
    a, b = _shapes(child_model), _shapes(parent_model)
    prefixes = tuple(p + '.' for p in parts)
    outside = {k: v for k, v in a.items() if not k.startswith(prefixes)}
    assert outside == {
        k: v
        for k, v in b.items() if not k.startswith(prefixes)
    }
    assert a != b
    new = ({type(m).__name__
            for m in child_model.modules()} -
           {type(m).__name__
            for m in parent_model.modules()})
    assert NEW_TYPES.get(config, set()) <= new, new


def _train_with(optim_cfg, steps=25):
    """Parameters of a small GN conv net after ``steps`` updates of the
    optimizer wrapper built from ``optim_cfg`` (fixed data and init)."""
    from mmengine.optim import build_optim_wrapper
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.GroupNorm(2, 8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 3), torch.nn.Flatten(),
        torch.nn.Linear(4 * 12 * 12, 5))
    x, y = torch.randn(4, 3, 16, 16), torch.randn(4, 5)
    wrapper = build_optim_wrapper(net, optim_cfg)
    for _ in range(steps):
        # a loss large enough that clip_grad (max_norm 10) clips
        wrapper.update_params(100 * ((net(x) - y)**2).mean())
    return [p.detach().clone() for p in net.parameters()]


def test_demo_adamw_foreach_is_the_per_tensor_update_bit_for_bit():
    # the demo schedule runs AdamW's multi-tensor kernel for speed; its
    # parameters must be exactly those of torch's per-tensor loop, gradient
    # clipping included (a fused kernel, for one, rounds differently)
    cfg = Config.fromfile(PANET).optim_wrapper
    assert cfg.optimizer.type == 'AdamW' and cfg.optimizer.foreach is True
    assert Config.fromfile(STOCK).optim_wrapper == cfg
    loop = cfg.copy()
    loop.optimizer = dict(cfg.optimizer, foreach=False)
    start = _train_with(cfg, steps=0)
    fast, slow = _train_with(cfg), _train_with(loop)
    assert all(not torch.equal(a, b) for a, b in zip(fast, start))
    assert all(torch.equal(a, b) for a, b in zip(fast, slow))


def test_ladder_starts_at_stock_and_ends_at_the_panet_demo():
    # the last rung is the PANet demo config itself, which is built from the
    # demo's base files (the PANet demo model, data, schedule), not from the
    # ladder: the step test above checks the ladder's last step reaches it
    assert LADDER[-1] == PANET and LADDER[0] == STOCK
    panet = _cfg(PANET)
    with open(osp.join(ROOT, PANET)) as f:
        bases = f.read().split('_base_ =', 1)[1]
    assert 'ablations' not in bases and '_base_/models/' in bases
    base_model = _cfg('configs/_base_/models/panet_r18_bufpn-gn_demo.py').model
    assert panet.model.to_dict() == base_model.to_dict()
    stock = _cfg(STOCK)
    stock_base = _cfg('configs/_base_/models/mask-rcnn_r18_fpn-gn_demo.py')
    assert stock.model.to_dict() == stock_base.model.to_dict()
    for key in set(panet.keys()) | set(stock.keys()):
        if key not in ('model', 'afp'):
            assert panet.get(key) == stock.get(key), key
    stock = build_detector(_cfg(STOCK))
    assert type(stock.neck).__name__ == 'FPN'
    assert type(
        stock.roi_head.bbox_roi_extractor).__name__ == 'SingleRoIExtractor'
    assert type(stock.roi_head.mask_head).__name__ == 'FCNMaskHead'
    # the heavier head rung differs from the 2fc rung in its box branch only,
    # i.e. rungs 3 and 4 are the paper's 2fc vs heavier-head comparison
    two_fc = build_detector(_cfg(LADDER[3])).roi_head
    heavy = build_detector(_cfg(LADDER[4])).roi_head
    assert two_fc.bbox_roi_extractor.layer_type == 'fc'
    assert heavy.bbox_roi_extractor.layer_type == 'conv'
    assert heavy.bbox_head.num_shared_convs == 3 and \
        two_fc.bbox_head.num_shared_convs == 0


# ------------------------------------------------------------------ table
def _fake_run(root, name, seed, segm, bbox, times=(2.0, 1.0, 1.2)):
    work = osp.join(root, f'{name}_seed{seed}')
    os.makedirs(osp.join(work, '20260101_000000', 'vis_data'))
    metrics = {'coco/segm_mAP': segm, 'coco/bbox_mAP': bbox}
    for s, v in zip('sml', (0.1, 0.2, 0.3)):
        metrics[f'coco/segm_mAP_{s}'] = v + segm
        metrics[f'coco/bbox_mAP_{s}'] = v + bbox
    with open(osp.join(work, 'test_metrics.json'), 'w') as f:
        json.dump(metrics, f)
    with open(
            osp.join(work, '20260101_000000', 'vis_data', 'scalars.json'),
            'w') as f:
        for i, t in enumerate(times):
            f.write(
                json.dumps(dict(iter=20 + 20 * i, loss=1.0, time=t)) + '\n')


def test_ablation_table_numbers(tmp_path):
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
    import ablation_table
    root = str(tmp_path)
    seed_scores = ((0.30, 0.36), (0.32, 0.40), (0.34, 0.38))
    for seed, (s0, s1) in enumerate(seed_scores):
        _fake_run(root, 'a', seed, s0, s0 - 0.1)
        _fake_run(root, 'b', seed, s1, s1 - 0.05)
    costs = {
        'x/a.py':
        dict(
            infer_ms_per_img=100.0,
            params=2e6,
            gflops=3.0,
            train_saved_mib=50.0,
            train_step_s=0.5),
        'x/b.py':
        dict(
            infer_ms_per_img=150.0,
            params=3e6,
            gflops=4.5,
            train_saved_mib=80.0,
            train_step_s=0.75)
    }
    costs_file = tmp_path / 'costs.json'
    costs_file.write_text(json.dumps(dict(configs=costs)))
    out = str(tmp_path / 'table')
    ablation_table.main([
        '--root', root, '--costs',
        str(costs_file), '--out', out, 'stock=x/a.py', 'panet=x/b.py'
    ])
    rows = json.load(open(out + '.json'))['rows']
    assert rows[0]['segm_mAP_mean'] == pytest.approx(0.32)
    assert rows[0]['segm_mAP_std'] == pytest.approx(0.02)
    assert rows[1]['segm_mAP_gain'] == pytest.approx(0.06)
    assert rows[1]['bbox_mAP_gain'] == pytest.approx(0.11)
    assert rows[0]['segm_mAP_gain'] is None
    # median of the logged times after the first 20 iterations
    assert rows[0]['train_s_per_iter_log'] == pytest.approx(1.1)
    diff, in_std = ablation_table.pooled_gap(rows[1], rows[0])
    assert diff == pytest.approx(0.06) and in_std == pytest.approx(3.0)
    md = open(out + '.md').read()
    assert '| panet | 3 | 0.380 +- 0.020 | 0.330 +- 0.020 |' in md
    assert '+0.060 / +0.110 | 0.75 | 150 | 3.00 | 4.50 | 80 |' in md
    assert os.path.getsize(out + '.png') > 10000
    assert json.load(open(out + '.json'))['costs_device'] == 'CPU'
    # costs measured without trained weights say so on the time axis
    for c in costs.values():
        c['checkpoint'] = None
    costs_file.write_text(
        json.dumps(
            dict(device='device: CPU, 2 threads (torch x)', configs=costs)))
    ablation_table.main([
        '--root', root, '--costs',
        str(costs_file), '--out', out, 'stock=x/a.py', 'panet=x/b.py'
    ])
    assert json.load(
        open(out +
             '.json'))['costs_device'] == 'CPU, 2 threads, random weights'
    assert 'Costs: CPU, 2 threads, random weights' in open(out + '.md').read()


def test_ablation_table_compares_rungs_over_the_same_seeds(tmp_path):
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
    import ablation_table
    root = str(tmp_path)
    for seed, segm in enumerate((0.30, 0.32, 0.34)):
        _fake_run(root, 'a', seed, segm, segm - 0.1)
    _fake_run(root, 'b', 0, 0.40, 0.31)  # a partial ladder: seed 0 only
    rungs = [('stock', 'x/a.py'), ('panet', 'x/b.py')]
    rows = ablation_table.collect(rungs, root)
    assert rows[0]['seeds'] == [0, 1, 2] and rows[1]['seeds'] == [0]
    # 0.40 - mean(0.30, 0.32, 0.34) would mix seeds: no gain, no gap
    assert rows[1]['segm_mAP_gain'] is None
    assert ablation_table.pooled_gap(rows[1], rows[0]) == (None, None)
    rows = ablation_table.collect(rungs, root, seeds=[0])
    assert rows[0]['seeds'] == [0] and rows[0]['segm_mAP_mean'] == 0.30
    assert rows[1]['segm_mAP_gain'] == pytest.approx(0.10)
    assert rows[1]['bbox_mAP_gain'] == pytest.approx(0.11)
    out = str(tmp_path / 'seed0')
    ablation_table.main([
        '--root', root, '--out', out, '--seeds', '0,5', 'stock=x/a.py',
        'panet=x/b.py'
    ])
    assert '| panet | 1 | 0.400 | 0.310 |' in open(out + '.md').read()


def test_ablation_table_rejects_bad_rungs(tmp_path):
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
    import ablation_table
    with pytest.raises(ValueError, match='LABEL=CONFIG'):
        ablation_table.main(['--root', str(tmp_path), 'no-label'])


def _demo_picture():
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
    import demo_picture
    return demo_picture


def test_demo_picture_picks_the_busiest_image():
    demo_picture = _demo_picture()
    anns = [
        dict(image_id=i, category_id=c)
        for i, c in ((1, 1), (1, 1), (1, 1), (2, 1), (2, 2), (2, 3), (3, 1),
                     (3, 2), (3, 3))
    ]
    coco = dict(
        images=[dict(id=i, file_name=f'val_{i:05d}.png') for i in (1, 2, 3)],
        annotations=anns)
    # 3 objects each: the most classes wins, then the lowest id
    assert demo_picture.pick_image(coco)['id'] == 2
    with pytest.raises(ValueError, match='no objects'):
        demo_picture.pick_image(dict(images=coco['images'], annotations=[]))


def test_demo_picture_ground_truth():
    """The drawn ground truth: boxes as x1y1x2y2, labels in the model's
    class order (matched by name, not id), polygon and RLE masks filled."""
    import numpy as np
    import pycocotools.mask as mask_utils
    demo_picture = _demo_picture()
    rle = mask_utils.encode(
        np.asfortranarray(
            np.pad(np.ones((4, 6), np.uint8), ((10, 18), (2, 24)))))
    rle['counts'] = rle['counts'].decode()
    coco = dict(
        images=[dict(id=7, file_name='a.png', height=32, width=32)],
        categories=[dict(id=1, name='triangle'),
                    dict(id=5, name='circle')],
        annotations=[
            dict(
                image_id=7,
                category_id=5,
                bbox=[4, 2, 10, 8],
                segmentation=[[4, 2, 14, 2, 14, 10, 4, 10]]),
            dict(
                image_id=7,
                category_id=1,
                bbox=[2, 10, 6, 4],
                segmentation=rle),
            dict(
                image_id=8,
                category_id=1,
                bbox=[0, 0, 1, 1],
                segmentation=[[0, 0, 1, 0, 1, 1]]),
        ])
    gt = demo_picture.ground_truth(coco, coco['images'][0],
                                   ['circle', 'rectangle', 'triangle'])
    assert gt.labels.tolist() == [0, 2]
    assert gt.bboxes.tolist() == [[4, 2, 14, 10], [2, 10, 8, 14]]
    masks = gt.masks.to_ndarray()
    assert masks.shape == (2, 32, 32)
    assert masks[1].sum() == 24 and masks[1][10:14, 2:8].all()
    assert 80 <= masks[0].sum() <= 99  # the 10x8 polygon, rasterised
    # drawn at twice the size: boxes x2, masks nearest-neighbour x2
    big = demo_picture.rescale_instances(gt, 2.0, (64, 64))
    assert big.bboxes.tolist() == [[8, 4, 28, 20], [4, 20, 16, 28]]
    assert big.masks.shape == (2, 64, 64)
    assert big.masks[1].sum() == 4 * 24 and big.masks[1][20:28, 4:16].all()
    assert gt.bboxes.tolist()[0] == [4, 2, 14, 10]  # the input is unchanged
    with pytest.raises(ValueError, match='not one of the model classes'):
        demo_picture.ground_truth(coco, coco['images'][0], ['circle'])


def test_demo_picture_uncompressed_rle():
    """COCO's uncompressed RLE (run lengths, column-major; used for crowd
    regions) is read as the same mask as its compressed form."""
    import numpy as np
    demo_picture = _demo_picture()
    mask = np.zeros((20, 30), np.uint8)
    mask[3:9, 5:25] = 1
    counts, value, run = [], 0, 0
    for v in mask.flatten(order='F'):
        if v != value:
            counts.append(run)
            value, run = v, 0
        run += 1
    counts.append(run)
    coco = dict(
        images=[dict(id=1, file_name='a.png', height=20, width=30)],
        categories=[dict(id=3, name='rectangle')],
        annotations=[
            dict(
                image_id=1,
                category_id=3,
                bbox=[5, 3, 20, 6],
                segmentation=dict(size=[20, 30], counts=counts))
        ])
    gt = demo_picture.ground_truth(coco, coco['images'][0],
                                   ['circle', 'rectangle'])
    assert gt.labels.tolist() == [1]
    assert (gt.masks.to_ndarray()[0] == mask).all()


def test_demo_model_labels_by_name():
    """Both picture tools label a COCO file's categories by the model's
    class order, matched by name; a category the model lacks is an error
    when an annotation uses it, and ignored when none does."""
    _demo_picture()  # tools/analysis on sys.path
    from demo_model import model_labels
    classes = ['circle', 'rectangle', 'triangle']
    cats = [
        dict(id=1, name='triangle'),
        dict(id=5, name='circle'),
        dict(id=9, name='hexagon')
    ]
    coco = dict(
        categories=cats,
        annotations=[dict(category_id=5),
                     dict(category_id=1)])
    assert model_labels(coco, classes) == {1: 2, 5: 0}
    coco['annotations'].append(dict(category_id=9))
    with pytest.raises(ValueError, match="'hexagon' is not one of the model"):
        model_labels(coco, classes)
    coco['annotations'][-1] = dict(category_id=4)
    with pytest.raises(ValueError, match=r'category ids \[4\]'):
        model_labels(coco, classes)


def test_demo_picture_class_agnostic_nms():
    """The picture's switch reaches the box head's NMS: an RoI the
    classifier splits between two classes is kept twice per class and once
    class-agnostic."""
    from mmengine.config import ConfigDict
    from mmengine.structures import InstanceData
    _demo_picture()  # tools/analysis on sys.path
    import demo_model as demo_picture
    model = build_detector(PANET)
    head = model.roi_head.bbox_head
    rois = torch.tensor([[0., 10., 10., 60., 60.]])
    cls = torch.tensor([[2.0, 1.9, -5.0, -5.0]])  # circle ~ rectangle
    reg = torch.zeros(1, 4 * head.num_classes)
    meta = [dict(img_shape=(128, 128), scale_factor=(1., 1.))]

    def kept():
        res = head.predict_by_feat((rois, ), (cls, ), (reg, ),
                                   meta,
                                   rcnn_test_cfg=model.roi_head.test_cfg)
        assert isinstance(res[0], InstanceData)
        return res[0].labels.tolist()

    assert sorted(kept()) == [0, 1]
    demo_picture.set_class_agnostic_nms(model, True)
    assert kept() == [0]
    demo_picture.set_class_agnostic_nms(model, False)
    assert sorted(kept()) == [0, 1]
    one_stage = torch.nn.Module()
    one_stage.roi_head = torch.nn.Module()
    one_stage.roi_head.test_cfg = ConfigDict(score_thr=0.05)
    with pytest.raises(ValueError, match='roi_head.test_cfg.nms'):
        demo_picture.set_class_agnostic_nms(one_stage, True)


def test_ablation_costs_own_batches(tiny_data, tmp_path):
    """--own-batches trains each config on its own loader's batch size; by
    default every config gets the first config's batches."""
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from benchmarks import ablation_costs
    configs = []
    for batch in (1, 2):
        path = tmp_path / f'stock_batch{batch}.py'
        path.write_text(f"_base_ = '{osp.join(ROOT, LADDER[0])}'\n"
                        f'train_dataloader = dict(batch_size={batch})\n')
        configs.append(str(path))
    kwargs = dict(
        checkpoints=None,
        data_root=tiny_data,
        train_batches=1,
        val_images=1,
        repeats=1,
        warmup=0)
    own = ablation_costs.measure(configs, own_batches=True, **kwargs)
    assert [own[c]['train_batch_size'] for c in configs] == [1, 2]
    shared = ablation_costs.measure(configs, **kwargs)
    assert [shared[c]['train_batch_size'] for c in configs] == [1, 1]
    assert own[configs[0]]['params'] == own[configs[1]]['params']


def test_ablation_table_defaults_to_the_runner_ladder(tmp_path):
    """``ablation_table.py ROOT``: the runner's ladder (and singles with
    runs), ROOT/costs.json, output ROOT/ablation.*."""
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
    import ablation_table
    root = str(tmp_path)
    for config in LADDER + [STEPS[5][0]]:
        _fake_run(root, osp.basename(config)[:-3], 0, 0.3, 0.2)
    (tmp_path / 'costs.json').write_text(
        json.dumps(
            dict(
                configs={
                    LADDER[0]:
                    dict(
                        infer_ms_per_img=100.0,
                        params=2e6,
                        gflops=3.0,
                        train_saved_mib=50.0,
                        train_step_s=0.5)
                })))
    ablation_table.main([root])
    rows = json.load(open(osp.join(root, 'ablation.json')))['rows']
    assert [r['config'] for r in rows] == LADDER + [STEPS[5][0]]
    assert [r['label'] for r in rows][-2:] == ['+HHD (PANet)', 'FF only']
    assert rows[0]['infer_ms_per_img'] == 100.0
    assert osp.isfile(osp.join(root, 'ablation.png'))
