"""The demo ablation table: accuracy over seeds and cost, one row per rung,
as Markdown + JSON, and a plot of AP against inference time.

    python tools/analysis/ablation_table.py results/demo_ablation
    python tools/analysis/ablation_table.py --root work_dirs/ablation \
        --costs work_dirs/ablation/costs.json \
        --out work_dirs/ablation/ablation \
        stock=configs/demo/mask-rcnn_r18_fpn-gn_demo.py \
        +BPA=configs/demo/ablations/mask-rcnn_r18_bufpn-gn_demo.py ...

Each ``LABEL=CONFIG`` is a rung, in ladder order; without any, the rungs
are the runner's ladder (``tools/analysis/run_ablation.py``'s ``LADDER``,
then its single-component configs that have runs in ROOT). A rung's runs
are the work dirs ``ROOT/<config name>_seed<N>`` that
``tools/run_ablation.sh`` writes (COCO metrics from ``tools/test.py
--save-metrics``, iteration times from the training log). ROOT is the first
argument or ``--root`` (default work_dirs/ablation); the costs default to
``ROOT/costs.json`` where it exists. Writes ``OUT.md``, ``OUT.json`` and
``OUT.png`` (default OUT: ``ROOT/ablation``) and prints the Markdown table.

Columns: segm and bbox AP as mean +- sample std over the seeds, segm AP_S /
AP_M / AP_L means, the gain of the mean over the previous rung, and from the
costs file (``tools/benchmark.py ablation-costs``, all rungs measured
interleaved in one process) the training step and inference ms per image,
parameters, FLOPs and training activation memory. Gains and the closing
PANet-vs-stock gap compare rungs over the same seeds only (a partial ladder
shows none; ``--seeds 0`` tables the seed-0 runs of every rung). The JSON
also holds the
median logged seconds per iteration of the runs themselves
(``train_s_per_iter_log``), which includes data loading and hooks but also
whatever else the machine did meanwhile.
"""
import argparse
import glob
import json
import math
import os.path as osp
import statistics

from run_records import load_test_metrics, mean_std, train_seconds_per_iter


def _seed_list(text):
    try:
        return [int(x) for x in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'--seeds takes comma-separated integers, got {text!r}') from None


def default_rungs(root):
    """run_ablation.py's ladder, then its singles that have runs in ROOT."""
    from run_ablation import LADDER, SINGLES  # beside this script
    return list(LADDER) + [(label, config)
                           for label, config in SINGLES if glob.glob(
                               osp.join(
                                   glob.escape(root),
                                   glob.escape(osp.basename(config)[:-3]) +
                                   '_seed*', 'test_metrics.json'))]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        'rungs',
        nargs='*',
        metavar='[ROOT] LABEL=CONFIG',
        help='the run directory (unless --root), then the rungs '
        "(default: run_ablation.py's ladder)")
    p.add_argument('--root', help='default: work_dirs/ablation')
    p.add_argument(
        '--costs',
        help='JSON of tools/benchmark.py ablation-costs '
        '(default: ROOT/costs.json where it exists)')
    p.add_argument(
        '--out',
        help='path prefix for .md, .json and .png '
        '(default: ROOT/ablation)')
    p.add_argument(
        '--seeds',
        type=_seed_list,
        help='only these seeds, comma-separated, e.g. 0,1 '
        '(default: every finished run)')
    return p.parse_args(argv)


def collect(rungs, root, costs=None, seeds=None):
    """One dict per rung: per-seed metrics, their means and stds, costs.

    Only the runs of ``seeds`` count when given. A rung's gain over the
    previous one is left out (None) unless both have the same seeds: means
    over different seeds do not compare.
    """
    rows = []
    for label, config in rungs:
        name = osp.basename(config)[:-3]
        by_seed = sorted((int(d.rsplit('_seed', 1)[1]), d)
                         for d in glob.glob(osp.join(root, f'{name}_seed*')))
        runs = [(seed, load_test_metrics(d), train_seconds_per_iter(d))
                for seed, d in by_seed
                if osp.isfile(osp.join(d, 'test_metrics.json')) and (
                    seeds is None or seed in seeds)]
        row = dict(label=label, config=config, seeds=[s for s, _, _ in runs])
        for key in ('segm_mAP', 'bbox_mAP', 'segm_mAP_s', 'segm_mAP_m',
                    'segm_mAP_l', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l'):
            values = [m.get(f'coco/{key}') for _, m, _ in runs]
            row[key] = dict(zip(row['seeds'], values))
            row[key + '_mean'], row[key + '_std'] = mean_std(values)
        times = [t for _, _, t in runs if not math.isnan(t)]
        row['train_s_per_iter_log'] = statistics.median(
            times) if times else None
        cost = (costs or {}).get(config, {})
        for key in ('infer_ms_per_img', 'params', 'gflops', 'train_saved_mib',
                    'train_step_s'):
            row[key] = cost.get(key)
        rows.append(row)
    for prev, row in zip([None] + rows[:-1], rows):
        for key in ('segm_mAP', 'bbox_mAP'):
            ok = (
                prev is not None and prev['seeds'] == row['seeds']
                and None not in (prev[key + '_mean'], row[key + '_mean']))
            row[key + '_gain'] = (
                row[key + '_mean'] - prev[key + '_mean'] if ok else None)
    return rows


def pooled_gap(a, b, key='segm_mAP'):
    """(mean difference a - b, that difference in pooled sample stds);
    (None, None) unless both have the same seeds (at least 2)."""
    if a['seeds'] != b['seeds'] or None in (a[key + '_mean'], b[key + '_mean'],
                                            a[key + '_std'], b[key + '_std']):
        return None, None
    diff = a[key + '_mean'] - b[key + '_mean']
    pooled = math.sqrt((a[key + '_std']**2 + b[key + '_std']**2) / 2)
    return diff, (diff / pooled if pooled > 0 else math.inf)


def _pm(mean, std):
    if mean is None:
        return '-'
    return f'{mean:.3f}' if std is None else f'{mean:.3f} +- {std:.3f}'


def _num(value, fmt):
    return '-' if value is None else format(value, fmt)


def markdown(rows):
    head = ('| rung | seeds | segm AP | bbox AP | segm AP_S / AP_M / AP_L | '
            'gain segm / bbox | train s/iter | infer ms/img | params M | '
            'GFLOPs | train act. MiB |')
    lines = [head, '|---|---:|---|---|---|---|---:|---:|---:|---:|---:|']
    for r in rows:
        sml = ' / '.join(_num(r[f'segm_mAP_{s}_mean'], '.3f') for s in 'sml')
        gain = ('-' if r['segm_mAP_gain'] is None else
                f'{r["segm_mAP_gain"]:+.3f} / {r["bbox_mAP_gain"]:+.3f}')
        lines.append(
            f'| {r["label"]} | {len(r["seeds"])} | '
            f'{_pm(r["segm_mAP_mean"], r["segm_mAP_std"])} | '
            f'{_pm(r["bbox_mAP_mean"], r["bbox_mAP_std"])} | {sml} | {gain} | '
            f'{_num(r["train_step_s"], ".2f")} | '
            f'{_num(r["infer_ms_per_img"], ".0f")} | '
            f'{_num(r["params"] and r["params"] / 1e6, ".2f")} | '
            f'{_num(r["gflops"], ".2f")} | '
            f'{_num(r["train_saved_mib"], ".0f")} |')
    return '\n'.join(lines)


def plot(rows, path, device='CPU'):
    """segm and bbox AP against inference ms/image: a small dot per seed, a
    large marker per rung mean, the ladder's means joined in order; ``device``
    (where the costs were measured) labels the time axis."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    colours = plt.get_cmap('tab10')
    for ax, key, title in ((axes[0], 'segm_mAP', 'mask AP'),
                           (axes[1], 'bbox_mAP', 'box AP')):
        xs, ys = [], []
        for i, r in enumerate(rows):
            x = r['infer_ms_per_img']
            if x is None or r[key + '_mean'] is None:
                continue
            seeds = [v for v in r[key].values() if v is not None]
            ax.scatter(
                [x] * len(seeds), seeds, s=14, alpha=0.5, color=colours(i))
            ax.scatter([x], [r[key + '_mean']],
                       s=70,
                       marker='D',
                       color=colours(i),
                       label=r['label'])
            xs.append(x)
            ys.append(r[key + '_mean'])
        ax.plot(xs, ys, color='grey', lw=0.8, zorder=0)
        ax.set_xlabel(f'inference ms / image ({device})')
        ax.set_ylabel(f'{title} (COCO, demo val)')
        ax.set_title(f'{title}: seeds (dots) and mean (diamond)')
        ax.grid(alpha=0.3)
    # one legend under both panels, where it cannot hide a point
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        fontsize=8,
        loc='lower center',
        ncol=max(len(labels), 1),
        frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    items = list(args.rungs)
    if args.root is None:
        args.root = (
            items.pop(0)
            if items and '=' not in items[0] else 'work_dirs/ablation')
    rungs = []
    for item in items:
        label, sep, config = item.partition('=')
        if not sep or not label or not config:
            raise ValueError(f'rungs are LABEL=CONFIG, got {item!r}')
        rungs.append((label, config))
    if not rungs:
        rungs = default_rungs(args.root)
    if args.costs is None and osp.isfile(osp.join(args.root, 'costs.json')):
        args.costs = osp.join(args.root, 'costs.json')
    if args.out is None:
        args.out = osp.join(args.root, 'ablation')
    costs, device = None, 'CPU'
    if args.costs:
        with open(args.costs) as f:
            measured = json.load(f)
        costs = measured['configs']
        # 'device: CPU, 2 threads (torch ...)' -> 'CPU, 2 threads'
        device = measured.get('device', device).split(': ', 1)[-1]
        device = device.split(' (')[0]
        if costs and all('checkpoint' in c and c['checkpoint'] is None
                         for c in costs.values()):
            # measured without --checkpoints: every image's RoI heads see
            # test_cfg.rcnn.max_per_img detections
            device += ', random weights'
    rows = collect(rungs, args.root, costs, args.seeds)
    table = markdown(rows)
    print(table)
    diff, in_std = pooled_gap(rows[-1], rows[0])
    summary = None
    if diff is not None:
        summary = (f'{rows[-1]["label"]} vs {rows[0]["label"]}: segm AP '
                   f'{diff:+.3f} = {in_std:.1f} pooled sample stds')
        print('\n' + summary)
    if args.out:
        with open(args.out + '.md', 'w') as f:
            f.write(table + '\n' + (f'\n{summary}\n' if summary else ''))
            if costs:
                f.write(f'\nCosts: {device} (tools/benchmark.py '
                        'ablation-costs, all rungs in one process).\n')
        with open(args.out + '.json', 'w') as f:
            json.dump(
                dict(rows=rows, summary=summary, costs_device=device),
                f,
                indent=1)
        plot(rows, args.out + '.png', device)
        print(f'written: {args.out}.md, .json, .png')


if __name__ == '__main__':
    main()
