"""Print demo results side by side: COCO bbox/segm AP and time per iteration.

Reads, from each work dir, the metrics that ``tools/test.py --save-metrics``
wrote (``test_metrics.json``) and the training log
(``*/vis_data/scalars.json``) for the median seconds per iteration.

    python tools/analysis/compare_results.py work_dirs/demo/panet_r18_fpn-gn_demo \
        work_dirs/demo/mask-rcnn_r18_fpn_gn_demo

Work dirs named ``NAME_seedN`` are grouped by ``NAME`` and reported as mean
+- sample standard deviation over the seeds (``tools/run_ablation.sh``).
"""
import argparse
import glob
import json
import os.path as osp
import re
import statistics
from collections import OrderedDict

KEYS = (('AP', 'mAP'), ('AP50', 'mAP_50'), ('AP75', 'mAP_75'),
        ('AP_S', 'mAP_s'), ('AP_M', 'mAP_m'), ('AP_L', 'mAP_l'))


def train_seconds_per_iter(work_dir):
    """Median logged 'time' of the training run (after 20 warm-up iters)."""
    times = []
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    for log in logs:
        with open(log) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec and 'time' in rec and rec.get('iter', 0) > 20:
                    times.append(rec['time'])
    return statistics.median(times) if times else float('nan')


def load(work_dir):
    path = osp.join(work_dir, 'test_metrics.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: run tools/test.py with '
                                '--save-metrics first (tools/run_demo.sh does)')
    with open(path) as f:
        return json.load(f)


def _mean_std(values):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('work_dirs', nargs='+')
    args = p.parse_args(argv)
    groups = OrderedDict()
    for w in args.work_dirs:
        name = re.sub(r'_seed\d+$', '', osp.basename(osp.normpath(w)))
        groups.setdefault(name, []).append(
            (load(w), train_seconds_per_iter(w)))
    seeds = max(len(v) for v in groups.values())
    width = max(len(n) for n in groups) + 2
    cell = 13 if seeds > 1 else 7
    if seeds > 1:
        print(f'mean +- std over seeds ({", ".join(f"{n}: {len(v)}" for n, v in groups.items())})')
    for kind in ('bbox', 'segm'):
        print(f'{kind:{width}s}' + ''.join(f'{k:>{cell}s}' for k, _ in KEYS) +
              ('     s/iter' if kind == 'bbox' else ''))
        for name, runs in groups.items():
            line = f'{name:{width}s}'
            for _, key in KEYS:
                m, sd = _mean_std([r[0].get(f'coco/{kind}_{key}', float('nan'))
                                   for r in runs])
                line += (f'{m:7.3f}+-{sd:.3f}'.rjust(cell) if seeds > 1
                         else f'{m:7.3f}')
            if kind == 'bbox':
                line += f'{statistics.median(r[1] for r in runs):11.2f}'
            print(line)
    if len(groups) == 2:
        (a, ra), (b, rb) = groups.items()
        d_segm = (statistics.fmean(r[0]['coco/segm_mAP'] for r in ra) -
                  statistics.fmean(r[0]['coco/segm_mAP'] for r in rb))
        d_bbox = (statistics.fmean(r[0]['coco/bbox_mAP'] for r in ra) -
                  statistics.fmean(r[0]['coco/bbox_mAP'] for r in rb))
        t = (statistics.median(r[1] for r in ra) /
             statistics.median(r[1] for r in rb))
        print(f'{a} - {b}: segm AP {d_segm:+.3f}, bbox AP {d_bbox:+.3f}, '
              f'time per iteration x{t:.2f}')


if __name__ == '__main__':
    main()
