"""Print demo results side by side: COCO bbox/segm AP and time per iteration.

Reads, from each work dir, the metrics that ``tools/test.py --save-metrics``
wrote (``test_metrics.json``) and the training log
(``*/vis_data/scalars.json``) for the median seconds per iteration.

    python tools/analysis/compare_results.py work_dirs/demo/panet_r18_fpn-gn_demo \
        work_dirs/demo/mask-rcnn_r18_fpn_gn_demo
"""
import argparse
import glob
import json
import os.path as osp
import statistics

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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('work_dirs', nargs='+')
    args = p.parse_args(argv)
    rows = [(osp.basename(osp.normpath(w)), load(w), train_seconds_per_iter(w))
            for w in args.work_dirs]
    width = max(len(r[0]) for r in rows) + 2
    for kind in ('bbox', 'segm'):
        print(f'{kind:{width}s}' + ''.join(f'{k:>7s}' for k, _ in KEYS) +
              ('   s/iter' if kind == 'bbox' else ''))
        for name, m, sec in rows:
            vals = ''.join(f'{m.get(f"coco/{kind}_{key}", float("nan")):7.3f}'
                           for _, key in KEYS)
            print(f'{name:{width}s}{vals}' +
                  (f'{sec:9.2f}' if kind == 'bbox' else ''))
    if len(rows) == 2:
        (a, ma, sa), (b, mb, sb) = rows
        print(f'{a} - {b}: segm AP {ma["coco/segm_mAP"] - mb["coco/segm_mAP"]:+.3f}, '
              f'bbox AP {ma["coco/bbox_mAP"] - mb["coco/bbox_mAP"]:+.3f}, '
              f'time per iteration x{sa / sb:.2f}')


if __name__ == '__main__':
    main()
