"""The demo numbers of the docs are the stored results' numbers.

``results/`` keeps the current demo recipe's records: the ablation ladder's
runs (``results/demo_ablation/*_seed*/test_metrics.json``), their costs
(``costs.json``, ``costs_trained_ends.json``) and class-confusion counts
(``class_confusion.json``), and the ``make demo`` run
(``results/make_demo_seed0.json``). This file

- regenerates the ablation table, its JSON and its plot from the stored runs
  with ``tools/analysis/ablation_table.py`` and compares them byte for byte
  with the committed ones;
- computes every demo number that README.md, docs/results.md,
  configs/panet/README.md and the CHANGELOG quote from those records,
  formatted as the docs write it, and checks that each quoted sentence is in
  its doc (line breaks aside);
- checks that no other number (a decimal, a percentage, a time) stands in
  the docs' demo sections: a number added there without a record behind it
  fails until it is added here;
- checks that the bounds the docs give for the official-model parity test
  are the test's own.
"""
import json
import os.path as osp
import re
import statistics
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS = osp.join(ROOT, 'results')
LADDER_DIR = osp.join(RESULTS, 'demo_ablation')
# the ladder, in order: (label as the docs write it, key, config name)
LADDER = (
    ('stock Mask R-CNN', 'stock', 'mask-rcnn_r18_fpn-gn_demo'),
    ('+BPA', 'BPA', 'mask-rcnn_r18_bufpn-gn_demo'),
    ('+AFP', 'AFP', 'mask-rcnn-afp_r18_bufpn-gn_demo'),
    ('+FF', 'FF', 'panet-2fc_r18_bufpn-gn_demo'),
    ('+HHD (PANet)', 'HHD', 'panet_r18_bufpn-gn_demo'),
)
SEEDS = (0, 1, 2)


def _json(*path):
    with open(osp.join(*path), encoding='utf-8') as f:
        return json.load(f)


def _read(doc):
    with open(osp.join(ROOT, doc), encoding='utf-8') as f:
        return f.read()


def _flat(text):
    return re.sub(r'\s+', ' ', text)


# ------------------------------------------------------------ regenerated
@pytest.fixture(scope='module')
def regenerated(tmp_path_factory):
    """``ablation_table.py results/demo_ablation`` written to a temporary
    prefix (a fresh interpreter: matplotlib's defaults, as on the command
    line)."""
    out = str(tmp_path_factory.mktemp('ablation') / 'ablation')
    proc = subprocess.run([
        sys.executable, 'tools/analysis/ablation_table.py',
        'results/demo_ablation', '--out', out
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _bytes(path):
    with open(path, 'rb') as f:
        return f.read()


@pytest.mark.parametrize('ext', ['md', 'json'])
def test_ablation_table_regenerates_byte_for_byte(regenerated, ext):
    committed = osp.join(LADDER_DIR, f'ablation.{ext}')
    new, old = _bytes(f'{regenerated}.{ext}'), _bytes(committed)
    assert new == old, (
        f'results/demo_ablation/ablation.{ext} is not what '
        '`tools/analysis/ablation_table.py results/demo_ablation` writes '
        f'from the stored runs; regenerate and commit it. Regenerated:\n'
        f'{new.decode()[:3000]}')


def _png_software(data):
    """The ``Software`` text chunk of a PNG (matplotlib writes its
    version there)."""
    import struct
    pos = 8  # the signature
    while pos + 8 <= len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b'tEXt' and chunk.startswith(b'Software\x00'):
            return chunk.split(b'\x00', 1)[1].decode('latin-1')
        pos += 12 + length
    return None


def test_ablation_plot_regenerates_byte_for_byte(regenerated):
    """The plot's data is ablation.json (compared above); the picture itself
    is byte-reproducible under the matplotlib that drew it (the pinned one,
    requirements/constraints.txt)."""
    import matplotlib
    old = _bytes(osp.join(LADDER_DIR, 'ablation.png'))
    drawn_by = _png_software(old)
    assert drawn_by and drawn_by.startswith('Matplotlib version'), drawn_by
    if f'version{matplotlib.__version__},' not in drawn_by.replace(' ', ''):
        pytest.skip(f'the committed plot was drawn by {drawn_by}, this is '
                    f'matplotlib {matplotlib.__version__}')
    assert _bytes(f'{regenerated}.png') == old, (
        'results/demo_ablation/ablation.png is not what ablation_table.py '
        'draws from the stored runs; regenerate and commit it')


# ------------------------------------------------------------------ facts
def _ladder():
    """Per rung: per-seed metrics, costs, class confusion."""
    costs = {
        osp.basename(k)[:-3]: v
        for k, v in _json(LADDER_DIR, 'costs.json')['configs'].items()
    }
    confusion = _json(LADDER_DIR, 'class_confusion.json')['runs']
    rungs = {}
    for label, key, name in LADDER:
        runs = {
            s: _json(LADDER_DIR, f'{name}_seed{s}', 'test_metrics.json')
            for s in SEEDS
        }
        rungs[key] = dict(
            label=label,
            runs=runs,
            costs=costs[name],
            confusion={s: confusion[f'{name}_seed{s}']
                       for s in SEEDS})
    return rungs


def _mean(rung, metric):
    return statistics.fmean(rung['runs'][s][f'coco/{metric}'] for s in SEEDS)


def _std(rung, metric):
    return statistics.stdev(rung['runs'][s][f'coco/{metric}'] for s in SEEDS)


def _pm(rung, metric):
    return f'{_mean(rung, metric):.3f} +- {_std(rung, metric):.3f}'


def _gap(a, b, metric='segm_mAP'):
    """Mean difference a - b in pooled sample stds."""
    pooled = ((_std(a, metric)**2 + _std(b, metric)**2) / 2)**0.5
    return (_mean(a, metric) - _mean(b, metric)) / pooled


def _higher(a, b):
    """On how many seeds a's segm AP is above b's."""
    return sum(a['runs'][s]['coco/segm_mAP'] > b['runs'][s]['coco/segm_mAP']
               for s in SEEDS)


def _right(rung):
    return [rung['confusion'][s]['right_class_pct'] for s in SEEDS]


def _diff(a, b, metric):
    return f'{_mean(a, metric) - _mean(b, metric):+.3f}'


def _seed_ap(rung, pick):
    return f"{pick(rung['runs'][s]['coco/segm_mAP'] for s in SEEDS):.3f}"


def _times(a, b, key):
    return f"x{a['costs'][key] / b['costs'][key]:.2f}"


def _more(a, b, key):
    return f"{(a['costs'][key] / b['costs'][key] - 1) * 100:+.0f}%"


def facts():
    """Every demo number the docs quote, formatted as they write it."""
    r = _ladder()
    f = {}
    for key, rung in r.items():
        f[f'{key}_segm'] = _pm(rung, 'segm_mAP')
        f[f'{key}_bbox'] = _pm(rung, 'bbox_mAP')
        f[f'{key}_right_range'] = f'{min(_right(rung))}-{max(_right(rung))}%'
    keys = [key for _, key, _ in LADDER]
    for prev, key in zip(keys, keys[1:]):
        a, b = r[key], r[prev]
        f[f'gain_{key}'] = _diff(a, b, 'segm_mAP')
        f[f'gap_{key}'] = f'{_gap(a, b):+.1f}'
        f[f'higher_{key}'] = str(_higher(a, b))
        f[f'lower_{key}'] = str(len(SEEDS) - _higher(a, b))
        f[f'step_{key}'] = _times(a, b, 'train_step_s')
        f[f'infer_{key}'] = _times(a, b, 'infer_ms_per_img')
        f[f'params_{key}'] = _more(a, b, 'params')
        f[f'flops_{key}'] = _more(a, b, 'gflops')
    f['gainM_AFP'] = _diff(r['AFP'], r['BPA'], 'segm_mAP_m')
    stock, panet = r['stock'], r['HHD']
    f['total_segm'] = _diff(panet, stock, 'segm_mAP')
    f['total_bbox'] = _diff(panet, stock, 'bbox_mAP')
    f['total_gap'] = f'{_gap(panet, stock):.1f}'
    f['total_higher'] = str(_higher(panet, stock))
    f['panet_min'] = _seed_ap(panet, min)
    f['stock_max'] = _seed_ap(stock, max)
    f['panet_s0'] = f"{panet['runs'][0]['coco/segm_mAP']:.3f}"
    f['panet_right_s0'] = f"{panet['confusion'][0]['right_class_pct']}%"
    for s in (1, 2):
        c = panet['confusion'][s]
        f[f'panet_r2c_{s}'] = str(c['rectangle_as_circle'])
        f[f'panet_c2r_{s}'] = str(c['circle_as_rectangle'])
    for name, key in (('step', 'train_step_s'), ('infer', 'infer_ms_per_img'),
                      ('params', 'params'), ('flops', 'gflops'),
                      ('act', 'train_saved_mib')):
        f[f'total_{name}'] = _times(panet, stock, key)
    # the two ends with trained weights
    ends = _json(LADDER_DIR, 'costs_trained_ends.json')['configs']
    (sname, s_end), = [(k, v) for k, v in ends.items() if 'mask-rcnn' in k]
    (pname, p_end), = [(k, v) for k, v in ends.items() if 'panet' in k]
    assert osp.basename(sname)[:-3] == LADDER[0][2]
    assert osp.basename(pname)[:-3] == LADDER[-1][2]
    f['ends_stock_seed'] = re.search(r'_seed(\d+)/',
                                     s_end['checkpoint']).group(1)
    f['ends_panet_seed'] = re.search(r'_seed(\d+)/',
                                     p_end['checkpoint']).group(1)
    f['ends_step'] = f"x{p_end['train_step_s'] / s_end['train_step_s']:.2f}"
    f['ends_infer'] = (
        f"x{p_end['infer_ms_per_img'] / s_end['infer_ms_per_img']:.2f}")
    f['ends_panet_step'] = f"{p_end['train_step_s']:.2f}"
    f['ends_stock_step'] = f"{s_end['train_step_s']:.2f}"
    f['ends_panet_ms'] = f"{p_end['infer_ms_per_img']:.0f}"
    f['ends_stock_ms'] = f"{s_end['infer_ms_per_img']:.0f}"
    # make demo
    demo = _json(RESULTS, 'make_demo_seed0.json')
    agnostic = demo['class_confusion']['class_agnostic_nms']
    per_class = demo['class_confusion']['per_class_nms']
    objects = agnostic['objects']
    f.update(
        demo_segm=f"{demo['test_metrics']['coco/segm_mAP']:.3f}",
        demo_bbox=f"{demo['test_metrics']['coco/bbox_mAP']:.3f}",
        demo_time_s=f"{demo['time_s']}",
        demo_time_min=f"{demo['time_s'] / 60:.0f}",
        demo_step_s=f"{demo['step_s']:.2f}",
        demo_objects=str(objects),
        demo_found=str(agnostic['found']),
        demo_iou=f"{agnostic['mean_iou']:.2f}",
        demo_right=str(agnostic['right_class']),
        demo_right_pct=f"{agnostic['right_class'] / agnostic['found']:.0%}",
        demo_dets=str(agnostic['detections_over_score_thr']),
        demo_dets_per_obj=(
            f"{agnostic['detections_over_score_thr'] / objects:.2f}"),
        demo_r2c=str(agnostic['rectangle_as_circle']),
        demo_c2r=str(agnostic['circle_as_rectangle']),
        demo_pc_right=str(per_class['right_class']),
        demo_pc_dets=str(per_class['detections_over_score_thr']),
        demo_pc_per_obj=(
            f"{per_class['detections_over_score_thr'] / objects:.2f}"),
    )
    assert demo['class_confusion']['score_thr'] == 0.3
    return f


def _seed_table_rows():
    """docs/results.md's per-seed table, from the stored runs."""
    rows = []
    for key, rung in _ladder().items():
        aps = ' | '.join(f"{rung['runs'][s]['coco/segm_mAP']:.3f} / "
                         f"{rung['runs'][s]['coco/bbox_mAP']:.3f}"
                         for s in SEEDS)
        right = ' / '.join(f'{p}%' for p in _right(rung))
        per_object = ' / '.join(
            f"{rung['confusion'][s]['detections_per_object']:.2f}"
            for s in SEEDS)
        rows.append(f"| {rung['label']} | {aps} | {right} | {per_object} |")
    return rows


# what each doc says, with the numbers as {fact} fields
QUOTES = {
    'README.md': [
        '`make demo` took {demo_time_min} min on a slow 2-core CPU after '
        'the set-up',
        '| stock Mask R-CNN | {stock_segm} | {stock_bbox} | '
        '{stock_right_range} |',
        '| PANet | **{HHD_segm}** | **{HHD_bbox}** | {HHD_right_range} |',
        'PANet leads on every seed, by {total_gap} pooled standard '
        'deviations.',
        'adaptive feature pooling gives the largest step ({gain_AFP} segm '
        'AP) and the heavier box head the next ({gain_HHD}); on this data '
        'bottom-up path augmentation lowered it ({gain_BPA}) and '
        'fully-connected fusion left it within noise ({gain_FF}).',
        '`make demo` (seed 0, two processes) scores segm / bbox AP '
        '{demo_segm} / {demo_bbox}, with {demo_right_pct} right classes.',
    ],
    'configs/panet/README.md': [
        '(segm AP {HHD_segm} against {stock_segm})',
    ],
    'CHANGELOG.md': [
        '(PANet segm AP {HHD_segm}, stock Mask R-CNN {stock_segm})',
    ],
    'docs/results.md': [
        'it took {demo_time_s} s ({demo_time_min} min; {demo_step_s} s per '
        'logged step) for segm / bbox AP {demo_segm} / {demo_bbox}',
        '{demo_found} of the {demo_objects} objects found (mean IoU '
        '{demo_iou}), {demo_right} of them ({demo_right_pct}; chance is 33%) '
        'with the right class, {demo_dets} detections with score >= 0.3 '
        '({demo_dets_per_obj} per object). Most errors are rectangles taken '
        'for circles ({demo_r2c}) and circles for rectangles ({demo_c2r}).',
        '{demo_pc_right} are right but {demo_pc_dets} detections reach 0.3 '
        '({demo_pc_per_obj} per object)',
        '**Bottom-up path augmentation**: {gain_BPA} segm AP ({gap_BPA} '
        'std), lower on {lower_BPA} of 3 seeds, for {params_BPA} parameters, '
        '{flops_BPA} FLOPs, {step_BPA} the training step and {infer_BPA} the '
        'inference time',
        '**Adaptive feature pooling** (with the 2fc box head): the largest '
        'gain, {gain_AFP} ({gap_AFP} std, higher on {higher_AFP} of 3 seeds), '
        'most on medium objects (AP_M {gainM_AFP}), and the largest rise in '
        'right classes. It costs the most time: {step_AFP} the training step '
        'and {infer_AFP} the inference time, {params_AFP} parameters',
        '**Fully-connected fusion**: {gain_FF} ({gap_FF} std, higher on '
        '{higher_FF} of 3 seeds), for {step_FF} the step and {params_FF} '
        'parameters',
        '**Heavier box head**: {gain_HHD} ({gap_HHD} std, higher on '
        '{higher_HHD} of 3 seeds), for {step_HHD} the step, {infer_HHD} the '
        'inference time and fewer parameters than the 2fc head.',
        'PANet leads stock Mask R-CNN by {total_segm} segm AP ({total_bbox} '
        'bbox), {total_gap} pooled sample stds, on {total_higher} of 3 seeds; '
        "its lowest seed, {panet_min}, is above the stock model's best, "
        '{stock_max}.',
        '(PANet seeds 1 and 2: {panet_r2c_1} and {panet_r2c_2}; the reverse '
        '{panet_c2r_1} and {panet_c2r_2})',
        'PANet takes {total_step} the training step, {total_infer} the '
        'inference time, {total_params} the parameters, {total_flops} the '
        'FLOPs and {total_act} the activation memory of stock Mask R-CNN.',
        'With trained weights (seed-{ends_stock_seed} stock, '
        'seed-{ends_panet_seed} PANet)',
        '{ends_step} the step ({ends_panet_step} s against '
        '{ends_stock_step} s) and {ends_infer} the inference time '
        '({ends_panet_ms} ms against {ends_stock_ms} ms per image)',
        'different models of the same recipe: {panet_s0} and '
        '{panet_right_s0} against {demo_segm} and {demo_right_pct}.',
    ],
}
# numbers in the demo sections that are settings, not results
SETTINGS = {
    'docs/results.md':
    ['step at 75%', '>= 0.3', 'reach 0.3', 'IoU >= 0.5', 'chance is 33%'],
}
# the sections whose every number must come from QUOTES or SETTINGS:
# (doc, first heading, the heading after it or None for the end)
SECTIONS = [
    ('README.md', '## Results', '## Status and limits'),
    ('configs/panet/README.md', '### Trained with this package',
     '## Citation'),
    ('docs/results.md', '# Results', '## Component benchmarks'),
]
NUMBER = re.compile(r'\d+\.\d+|\d+%|\d+ (?:s|ms|min)\b')


def _quoted(doc, f):
    out = [q.format(**f) for q in QUOTES.get(doc, [])]
    if doc == 'docs/results.md':
        out += _seed_table_rows()
    return out


@pytest.fixture(scope='module')
def stored():
    return facts()


@pytest.mark.parametrize('doc', sorted(QUOTES))
def test_quoted_demo_numbers_are_the_stored_results(doc, stored):
    text = _flat(_read(doc))
    missing = [q for q in _quoted(doc, stored) if _flat(q) not in text]
    assert not missing, (
        f'{doc} does not say, with the numbers computed from results/:\n' +
        '\n'.join(missing))


def _section(doc, start, end):
    text = _read(doc)
    i = text.index(start + '\n')
    j = text.index(end + '\n', i) if end else len(text)
    return text[i:j]


@pytest.mark.parametrize(
    'doc,start,end', SECTIONS, ids=[s[0] for s in SECTIONS])
def test_no_demo_number_without_a_record(doc, start, end, stored):
    """Every decimal, percentage and time in the section is inside a quote
    checked above (or a setting): nothing there is copied by hand."""
    text = _section(doc, start, end)
    text = re.sub(r'^```.*?^```', '', text, flags=re.M | re.S)  # commands
    text = _flat(text)
    covered = [False] * len(text)
    spans = [
        re.escape(_flat(phrase))
        for phrase in _quoted(doc, stored) + SETTINGS.get(doc, [])
    ]
    # inline code (paths, options) and link targets hold no results
    for pattern in spans + [r'`[^`]*`', r'\]\([^)]*\)']:
        for m in re.finditer(pattern, text):
            covered[m.start():m.end()] = [True] * (m.end() - m.start())
    loose = [
        f'{m.group()!r} in "...{text[max(m.start() - 50, 0):m.end() + 20]}..."'
        for m in NUMBER.finditer(text) if not all(covered[m.start():m.end()])
    ]
    assert not loose, (
        f'numbers in {doc} ({start}) that no record in results/ backs '
        '(add them to the records and to QUOTES in this file, or drop '
        'them):\n' + '\n'.join(loose))


def test_the_docs_qualitative_claims_hold():
    """The words around the numbers: "largest", "the next", "fewer", "every
    seed", "within noise"."""
    r = _ladder()
    keys = [key for _, key, _ in LADDER]
    gains = {
        k: _mean(r[k], 'segm_mAP') - _mean(r[p], 'segm_mAP')
        for p, k in zip(keys, keys[1:])
    }
    steps = {
        k: r[k]['costs']['train_step_s'] / r[p]['costs']['train_step_s']
        for p, k in zip(keys, keys[1:])
    }
    rises = {
        k: statistics.fmean(_right(r[k])) - statistics.fmean(_right(r[p]))
        for p, k in zip(keys, keys[1:])
    }
    assert max(gains, key=gains.get) == 'AFP'
    assert sorted(gains, key=gains.get)[-2] == 'HHD'  # "the next"
    assert gains['BPA'] < 0 and abs(_gap(r['FF'], r['AFP'])) < 1
    assert max(steps, key=steps.get) == 'AFP'  # "costs the most time"
    assert max(rises, key=rises.get) == 'AFP'
    assert r['HHD']['costs']['params'] < r['FF']['costs']['params']
    assert _higher(r['HHD'], r['stock']) == len(SEEDS)  # "every seed"
    panet_min = min(r['HHD']['runs'][s]['coco/segm_mAP'] for s in SEEDS)
    stock_max = max(r['stock']['runs'][s]['coco/segm_mAP'] for s in SEEDS)
    assert panet_min > stock_max
    for s in (1, 2):  # "most wrong classes left are rectangles as circles"
        c = r['HHD']['confusion'][s]
        assert c['rectangle_as_circle'] > c['circle_as_rectangle']


def test_every_stored_run_is_in_the_ladder():
    """results/demo_ablation holds the current ladder's runs and nothing
    else the facts above would miss."""
    import glob
    runs = sorted(
        osp.basename(osp.dirname(p))
        for p in glob.glob(osp.join(LADDER_DIR, '*', 'test_metrics.json')))
    assert runs == sorted(f'{name}_seed{s}' for _, _, name in LADDER
                          for s in SEEDS)
    confusion = _json(LADDER_DIR, 'class_confusion.json')['runs']
    assert sorted(confusion) == runs
    assert sorted(
        p for p in glob.glob(osp.join(RESULTS, '*'))
        if osp.isdir(p)) == [LADDER_DIR]


# ------------------------------------------------- the parity test's bounds
def _bound(x):
    """2e-05 -> '2e-5', 0.01 -> '0.01'."""
    if x >= 1e-3:
        return f'{x:g}'
    mantissa, exp = f'{x:.0e}'.split('e')
    return f'{mantissa}e{int(exp)}'


def _parity_bounds():
    """``E2E_BOUNDS`` of tests/test_official_parity.py, read without
    importing it: ``{(scale, max_size): {figure: bound}}``."""
    import ast
    tree = ast.parse(_read('tests/test_official_parity.py'))
    names = {}  # module constants: SCALE, MAX_SIZE = 256, 400
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0],
                                                       ast.Tuple):
            for t, v in zip(node.targets[0].elts, node.value.elts):
                if isinstance(v, ast.Constant):
                    names[t.id] = v.value
    node = next(
        n for n in tree.body if isinstance(n, ast.Assign)
        and getattr(n.targets[0], 'id', '') == 'E2E_BOUNDS')
    bounds = {}
    for key, value in zip(node.value.keys, node.value.values):
        scale = tuple(names[e.id] if isinstance(e, ast.Name) else e.value
                      for e in key.elts)
        bounds[scale] = {
            k.arg: ast.literal_eval(k.value)
            for k in value.keywords
        }
    return bounds


def _bounds_sentence(b):
    """How docs/official_models.md words one scale's tested bounds."""
    head = (f"scores within {_bound(b['score'])}, boxes within "
            f"{_bound(b['box_px'])} px")
    if b['masks_identical'] == 1 and b['mask_px_max'] == 0:
        return head + ' and every mask identical to the pixel'
    px = b['mask_px_max']
    return (head + f", at least {b['masks_identical']:.0%} of the masks "
            f"identical and at most {px:.0f} pixel{'s' * (px != 1)} off in "
            'any mask')


def test_docs_state_the_parity_tests_bounds():
    """docs/official_models.md gives the bounds the end-to-end parity tests
    check (E2E_BOUNDS) beside the figures measured once; configs/panet/
    README.md quotes the test scale's."""
    bounds = _parity_bounds()
    assert set(bounds) == {(256, 400), (1000, 1400)}, bounds
    text = _flat(_read('docs/official_models.md'))
    for (scale, max_size), b in bounds.items():
        assert set(b) == {'score', 'box_px', 'mask_px_max',
                          'masks_identical'}, b
        quote = f'{_bounds_sentence(b)} at {scale} / {max_size}'
        assert quote in text, quote
    readme = _flat(_read('configs/panet/README.md'))
    quote = f'{_bounds_sentence(bounds[1000, 1400])} at 1000 / 1400'
    assert quote in readme, quote
