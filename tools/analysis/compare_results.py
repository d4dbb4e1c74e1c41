"""Print demo results side by side: COCO bbox/segm AP and time per iteration.

Reads, from each work dir, the metrics that ``tools/test.py --save-metrics``
wrote (``test_metrics.json``) and the training log
(``*/vis_data/scalars.json``) for the median seconds per iteration.

    python tools/analysis/compare_results.py \
        work_dirs/demo/panet_r18_bufpn-gn_demo \
        work_dirs/demo/mask-rcnn_r18_fpn-gn_demo

Work dirs named ``NAME_seedN`` are grouped by ``NAME`` and reported as mean
+- sample standard deviation over the seeds (``tools/run_ablation.sh``).
"""
import argparse
import math
import os.path as osp
import re
import statistics
from collections import OrderedDict

from run_records import load_test_metrics, mean_std, train_seconds_per_iter

KEYS = (('AP', 'mAP'), ('AP50', 'mAP_50'), ('AP75', 'mAP_75'),
        ('AP_S', 'mAP_s'), ('AP_M', 'mAP_m'), ('AP_L', 'mAP_l'))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('work_dirs', nargs='+')
    args = p.parse_args(argv)
    groups = OrderedDict()
    for w in args.work_dirs:
        name = re.sub(r'_seed\d+$', '', osp.basename(osp.normpath(w)))
        groups.setdefault(name, []).append(
            (load_test_metrics(w), train_seconds_per_iter(w)))
    seeds = max(len(v) for v in groups.values())
    width = max(len(n) for n in groups) + 2
    cell = 13 if seeds > 1 else 7
    if seeds > 1:
        counts = ', '.join(f'{n}: {len(v)}' for n, v in groups.items())
        print(f'mean +- std over seeds ({counts})')
    for kind in ('bbox', 'segm'):
        print(f'{kind:{width}s}' + ''.join(f'{k:>{cell}s}' for k, _ in KEYS) +
              ('     s/iter' if kind == 'bbox' else ''))
        for name, runs in groups.items():
            line = f'{name:{width}s}'
            for _, key in KEYS:
                m, sd = mean_std(r[0].get(f'coco/{kind}_{key}') for r in runs)
                m = math.nan if m is None else m
                sd = 0.0 if sd is None else sd
                line += (f'{m:7.3f}+-{sd:.3f}'.rjust(cell)
                         if seeds > 1 else f'{m:7.3f}')
            if kind == 'bbox':
                line += f'{statistics.median(r[1] for r in runs):11.2f}'
            print(line)
    if len(groups) == 2:
        (a, ra), (b, rb) = groups.items()
        d_segm = (
            statistics.fmean(r[0]['coco/segm_mAP'] for r in ra) -
            statistics.fmean(r[0]['coco/segm_mAP'] for r in rb))
        d_bbox = (
            statistics.fmean(r[0]['coco/bbox_mAP'] for r in ra) -
            statistics.fmean(r[0]['coco/bbox_mAP'] for r in rb))
        t = (
            statistics.median(r[1]
                              for r in ra) / statistics.median(r[1]
                                                               for r in rb))
        print(f'{a} - {b}: segm AP {d_segm:+.3f}, bbox AP {d_bbox:+.3f}, '
              f'time per iteration x{t:.2f}')


if __name__ == '__main__':
    main()
