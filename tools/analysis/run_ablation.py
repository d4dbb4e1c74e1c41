"""The demo ablation ladder: train + evaluate every rung for every seed with
mmdet's runners (tools/train.py, tools/test.py), measure what each rung
costs, and write the table (Markdown + JSON) and the AP-vs-time plot.

    bash tools/run_ablation.sh [SEEDS...]      # default: 0 1 2
    python tools/analysis/run_ablation.py [SEEDS...]   # the same

Rungs (``LADDER`` below; tests/test_demo_ablations.py checks each adds one
component to the previous): stock Mask R-CNN -> +BPA -> +AFP -> +FF -> +HHD
(= the PANet demo, configs/demo/panet_r18_bufpn-gn_demo.py).
ABLATION_SINGLES=1 also runs AFP alone and FF alone on the stock model;
ABLATION_ONLY="0 4" runs only the rungs of those indices (0 = stock).

Resumable: a finished run (test_metrics.json) is skipped, an interrupted
training run resumes from its last checkpoint (saved every
CKPT_INTERVAL=240 iterations), a trained but untested one is only tested,
and the costs are measured once. Each run's full log is RUN_DIR/run.log; the
console shows one progress line per running run every POLL_S=30 seconds with
its iteration and an ETA for the whole ladder. Interrupted (Ctrl-C, SIGTERM),
it stops the runs it started; a rerun resumes them from their checkpoints.

ABLATION_JOBS=N trains N runs at a time, each with nproc/N threads (unless
OMP_NUM_THREADS is set): on a 2-core CPU, 2 one-thread runs finish the ladder
sooner than one two-thread run at a time. The costs (train s/iter, inference
ms) are measured alone afterwards, with COST_THREADS threads, either way, by
``tools/benchmark.py ablation-costs``.

Env: ABLATION_DIR (default work_dirs/ablation), DATA_DIR (default
data/demo_shapes), OMP_NUM_THREADS, ABLATION_CFG_OPTIONS (extra training
--cfg-options, space-separated, e.g. for a quick check:
"train_cfg.max_iters=2"), COST_REPEATS (default 5), COST_VAL_IMAGES (val
images per inference measurement, default 8), COST_THREADS (threads for the
cost measurement; default: all cores). The Python is the one running
this script (run_ablation.sh: PY, default .venv/bin/python).
Writes ABLATION_DIR/ablation.{md,json,png} and ABLATION_DIR/costs.json.
"""
import glob
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
A = 'configs/demo/ablations/'
# (label, config): the ladder in order, then the single components
LADDER = [
    ('stock Mask R-CNN', 'configs/demo/mask-rcnn_r18_fpn-gn_demo.py'),
    ('+BPA', A + 'mask-rcnn_r18_bufpn-gn_demo.py'),
    ('+AFP', A + 'mask-rcnn-afp_r18_bufpn-gn_demo.py'),
    ('+FF', A + 'panet-2fc_r18_bufpn-gn_demo.py'),
    ('+HHD (PANet)', 'configs/demo/panet_r18_bufpn-gn_demo.py'),
]
SINGLES = [
    ('AFP only', A + 'mask-rcnn-afp_r18_fpn-gn_demo.py'),
    ('FF only', A + 'mask-rcnn-ff_r18_fpn-gn_demo.py'),
]
PROG = 'run_ablation'
ITER_RE = re.compile(r'Iter\(train\) \[ *(\d+)/(\d+)\]')
NOISE_RE = re.compile(r'warn|^ *_bootstrap|import pkg_resources', re.I)


class UsageError(Exception):
    pass


def cores():
    """The machine's cores for this process (as GNU nproc without
    OMP_NUM_THREADS, which make ablation sets to 1)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 2


def settings(argv, env):
    """The run's settings from the seeds on the command line and the env
    knobs; UsageError on a bad value (before anything is written)."""
    seeds = argv or ['0', '1', '2']
    for s in seeds:
        if not re.fullmatch(r'[0-9]+', s):
            raise UsageError(f"seeds are integers, got '{s}'")
    jobs = env.get('ABLATION_JOBS', '1')
    if not re.fullmatch(r'[1-9][0-9]*', jobs):
        raise UsageError(f"ABLATION_JOBS is a positive integer, got '{jobs}'")
    for knob, default in (('COST_REPEATS', '5'), ('COST_VAL_IMAGES', '8')):
        if not re.fullmatch(r'[1-9][0-9]*', env.get(knob, default)):
            raise UsageError(f'{knob} is a positive integer, got '
                             f"'{env[knob]}'")
    rungs = list(LADDER)
    if env.get('ABLATION_SINGLES', '0') == '1':
        rungs += SINGLES
    if env.get('ABLATION_ONLY', '').strip():
        keep = []
        for i in env['ABLATION_ONLY'].split():
            if not (re.fullmatch(r'[0-9]+', i) and int(i) < len(rungs)):
                raise UsageError(
                    f'ABLATION_ONLY takes rung indices 0-{len(rungs) - 1}, '
                    f"got '{i}'")
            keep.append(rungs[int(i)])
        rungs = keep
    n_cores = cores()
    jobs = int(jobs)
    return dict(
        seeds=[int(s) for s in seeds],
        rungs=rungs,
        jobs=jobs,
        out=env.get('ABLATION_DIR', 'work_dirs/ablation'),
        data_dir=env.get('DATA_DIR', 'data/demo_shapes'),
        ckpt_interval=env.get('CKPT_INTERVAL', '240'),
        poll_s=float(env.get('POLL_S', '30')),
        extra_opts=env.get('ABLATION_CFG_OPTIONS', '').split(),
        threads=env.get('OMP_NUM_THREADS') or str(max(1, n_cores // jobs)),
        cost_threads=env.get('COST_THREADS') or str(n_cores),
        cost_repeats=env.get('COST_REPEATS', '5'),
        cost_val_images=env.get('COST_VAL_IMAGES', '8'))


def hms(seconds):
    s = int(seconds)
    return f'{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}'


def name_of(config):
    return osp.basename(config)[:-3]


def run_dir(out, config, seed):
    return osp.join(out, f'{name_of(config)}_seed{seed}')


def checkpoint_in(work):
    """The latest checkpoint of run directory WORK, looked up in it:
    mmengine's last_checkpoint holds an absolute path, stale once the run
    directory has moved (ABLATION_DIR renamed, runs gathered from
    elsewhere)."""
    with open(osp.join(work, 'last_checkpoint')) as f:
        return osp.join(work, osp.basename(f.read().strip()))


def demo_data_options(data_dir):
    """tools/demo_data_options.sh's DEMO_DATA_OPTS for DATA_DIR: the
    --cfg-options that point a demo config at the demo data."""
    out = subprocess.run([
        'bash', '-c', 'source tools/demo_data_options.sh && '
        'printf "%s\\n" "${DEMO_DATA_OPTS[@]}"'
    ],
                         cwd=ROOT,
                         env=dict(os.environ, DATA_DIR=data_dir),
                         check=True,
                         capture_output=True,
                         text=True).stdout
    return out.splitlines()


def durations(out, name='*'):
    values = []
    for path in glob.glob(
            osp.join(glob.escape(out), f'{name}_seed*', 'duration_s')):
        try:
            with open(path) as f:
                values.append(int(f.read().strip()))
        except (OSError, ValueError):
            pass
    return values


def estimate_left(cfg, pending):
    """Seconds the runs not started yet will take: the mean duration of the
    finished runs of the same config (any invocation), else of any config;
    None if no run has finished yet."""
    every = durations(cfg['out'])
    total = 0
    for run in pending:
        same = durations(cfg['out'], glob.escape(name_of(run.config)))
        if same:
            total += sum(same) // len(same)
        elif every:
            total += sum(every) // len(every)
        else:
            return None
    return total


def last_iteration(log):
    try:
        with open(log, 'rb') as f:
            f.seek(max(0, osp.getsize(log) - 200_000))
            text = f.read().decode(errors='replace')
    except OSError:
        return None
    found = ITER_RE.findall(text)
    return '/'.join(found[-1]) if found else None


class Run:
    """One (config, seed) run: training (unless done), then testing, each a
    subprocess in its own process group (stopped as a whole)."""

    def __init__(self, cfg, k, total, seed, label, config):
        self.cfg, self.k, self.seed, self.config = cfg, k, seed, config
        self.label = label
        self.work = run_dir(cfg['out'], config, seed)
        self.log = osp.join(self.work, 'run.log')
        self.tag = f'[{k}/{total}] {label}, seed {seed}'
        self.proc = self.stage = None
        self.start_time = None

    def _spawn(self, args):
        with open(self.log, 'a') as log:
            self.proc = subprocess.Popen(
                [sys.executable] + args,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.cfg['env'],
                start_new_session=True)

    def start(self):
        os.makedirs(self.work, exist_ok=True)
        self.start_time = time.time()
        if osp.isfile(osp.join(self.work, 'train_done')):
            self._test()
            return
        last = osp.join(self.work, 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as f:
                print(f'{self.tag}: resuming from {f.read().strip()} '
                      f'(log: {self.log})')
        else:
            print(f'{self.tag}: training (log: {self.log})')
        self.stage = 'train'
        self._spawn([
            'tools/train.py', self.config, '--work-dir', self.work, '--resume',
            '--cfg-options', f'randomness.seed={self.seed}',
            *self.cfg['data_opts'], 'train_cfg.val_begin=100000000',
            'default_hooks.checkpoint.interval='
            f"{self.cfg['ckpt_interval']}", *self.cfg['extra_opts']
        ])

    def _test(self):
        print(f'{self.tag}: testing')
        self.stage = 'test'
        self._spawn([
            'tools/test.py', self.config,
            checkpoint_in(self.work), '--work-dir', self.work,
            '--save-metrics',
            osp.join(self.work, 'test_metrics.json.tmp'), '--cfg-options',
            *self.cfg['data_opts']
        ])

    def poll(self):
        """None while running; True when tested, False when a step failed."""
        if self.proc.poll() is None:
            return None
        if self.proc.returncode != 0:
            what = 'training' if self.stage == 'train' else 'testing'
            with open(self.log, errors='replace') as f:
                tail = f.readlines()[-20:]
            sys.stderr.write(f'{self.tag}: {what} failed; last lines of '
                             f'{self.log}:\n' + ''.join(tail))
            return False
        if self.stage == 'train':
            open(osp.join(self.work, 'train_done'), 'w').close()
            self._test()
            return None
        metrics = osp.join(self.work, 'test_metrics.json')
        os.replace(metrics + '.tmp', metrics)
        took = int(time.time() - self.start_time)
        # for the ETA of later runs (a resumed run counts only its last part)
        duration = osp.join(self.work, 'duration_s')
        if not osp.isfile(duration):
            with open(duration, 'w') as f:
                f.write(f'{took}\n')
        with open(metrics) as f:
            m = json.load(f)
        print(f"{self.tag}: segm AP {m['coco/segm_mAP']:.3f}, bbox AP "
              f"{m['coco/bbox_mAP']:.3f} in {took} s")
        return True

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def run_ladder(cfg):
    """Every pending run, up to cfg['jobs'] at a time; False after a failure
    (no new run starts then, the running ones finish)."""
    runs = [(seed, label, config) for seed in cfg['seeds']
            for label, config in cfg['rungs']]
    total = len(runs)
    pending = []
    for k, (seed, label, config) in enumerate(runs, 1):
        run = Run(cfg, k, total, seed, label, config)
        if osp.isfile(osp.join(run.work, 'test_metrics.json')):
            print(f'{run.tag}: done before, skipped')
        else:
            pending.append(run)
    running, failed = [], False
    cfg['running'] = running  # for the interrupt handler
    last_report = start = time.time()
    while (not failed and pending) or running:
        for run in list(running):
            result = run.poll()
            if result is not None:
                running.remove(run)
                failed |= not result
        while not failed and pending and len(running) < cfg['jobs']:
            run = pending.pop(0)
            run.start()
            running.append(run)
        time.sleep(1)
        now = time.time()
        if now - last_report < cfg['poll_s']:
            continue
        last_report = now
        rest = estimate_left(cfg, pending)
        eta = (
            'ladder ETA after the first run' if rest is None else
            f"ladder ETA {hms(rest / cfg['jobs'])} after the running run(s)")
        for run in running:
            it = last_iteration(run.log) or '0/?'
            print(f'  {run.tag}: iter {it}, {hms(now - run.start_time)} in '
                  f'this run; {eta}')
    if not failed:
        print(f'ladder runs finished ({hms(time.time() - start)} in this '
              'invocation)')
    return not failed


def measure_costs(cfg):
    """The costs are measured once, all configs in one process. When this
    invocation brings configs costs.json lacks (ABLATION_SINGLES, another
    ABLATION_ONLY subset), the ones measured before are measured again with
    them: the file only grows, and its numbers always come from one
    process."""
    out = cfg['out']
    costs = osp.join(out, 'costs.json')
    measured = []
    try:
        with open(costs) as f:
            measured = list(json.load(f)['configs'])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    # configs renamed or removed since they were measured are dropped (the
    # file is then measured again without them)
    measured_now = [c for c in measured if osp.isfile(osp.join(ROOT, c))]
    configs = [c for _, c in cfg['rungs']]
    configs += [c for c in measured_now if c not in configs]
    if len(configs) <= len(measured) and measured_now == measured:
        return True
    checkpoints = []
    for c in configs:  # the first seed's weights, else any seed's
        last = osp.join(run_dir(out, c, cfg['seeds'][0]), 'last_checkpoint')
        if not osp.isfile(last):
            found = sorted(
                glob.glob(
                    osp.join(
                        glob.escape(out),
                        glob.escape(name_of(c)) + '_seed*',
                        'last_checkpoint')))
            if not found:
                sys.stderr.write(f'{PROG}: no trained run of {c} in {out} '
                                 'for its costs\n')
                return False
            last = found[0]
        checkpoints.append(checkpoint_in(osp.dirname(last)))
    print('== costs: parameters, FLOPs, train step, inference (seed '
          f"{cfg['seeds'][0]} checkpoints), memory")
    tmp = costs + '.tmp'
    proc = cfg['cost_proc'] = subprocess.Popen(
        [
            sys.executable, 'tools/benchmark.py', 'ablation-costs', *configs,
            '--checkpoints', *checkpoints, '--data-root', cfg['data_dir'],
            '--repeats', cfg['cost_repeats'], '--val-images',
            cfg['cost_val_images'], '--out', tmp
        ],
        cwd=ROOT,
        env=dict(cfg['env'], OMP_NUM_THREADS=cfg['cost_threads']),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    for line in proc.stdout:
        if not NOISE_RE.search(line):
            sys.stdout.write(line)
    proc.wait()
    if not osp.isfile(tmp):
        sys.stderr.write('measuring the costs failed\n')
        return False
    os.replace(tmp, costs)
    return True


def main(argv=None):
    sys.stdout.reconfigure(line_buffering=True)
    try:
        cfg = settings(sys.argv[1:] if argv is None else argv, os.environ)
    except UsageError as e:
        sys.stderr.write(f'{PROG}: {e}\n')
        return 2
    os.chdir(ROOT)
    cfg['env'] = dict(os.environ, OMP_NUM_THREADS=cfg['threads'])
    cfg['running'] = []

    cfg['cost_proc'] = None

    def stop_everything():
        """Stop the training/test runs (their own process groups) and the
        cost measurement, SIGKILL what is left after 30 s."""
        for run in cfg['running']:
            run.stop()
        procs = [r.proc for r in cfg['running'] if r.proc is not None]
        if cfg['cost_proc'] is not None and cfg['cost_proc'].poll() is None:
            cfg['cost_proc'].terminate()
            procs.append(cfg['cost_proc'])
        deadline = time.time() + 30
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()

    def interrupted(signum, frame):
        sys.stderr.write(f'{PROG}: interrupted, stopping the running runs\n')
        stop_everything()
        sys.exit(130)

    # Ctrl-C, kill, and a closed terminal / ssh session: the runs live in
    # their own process groups, so they would outlive the runner otherwise
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    try:
        return _run_all(cfg)
    finally:
        stop_everything()  # no-op after a normal end; an error leaves none


def _run_all(cfg):
    os.makedirs(cfg['out'], exist_ok=True)
    print(f"== demo data -> {cfg['data_dir']}")
    if not osp.isfile(
            osp.join(cfg['data_dir'], 'annotations', 'instances_val.json')):
        subprocess.run([
            sys.executable, 'tools/make_demo_data.py', '--out',
            cfg['data_dir'], '--seed', '0'
        ],
                       env=cfg['env'],
                       check=True)
    cfg['data_opts'] = demo_data_options(cfg['data_dir'])

    if not run_ladder(cfg):
        sys.stderr.write(f'{PROG}: a run failed (above); rerun to continue\n')
        return 1
    if not measure_costs(cfg):
        return 1
    print('== table')
    out = cfg['out']
    return subprocess.run(
        [
            sys.executable, 'tools/analysis/ablation_table.py', '--root', out,
            '--costs',
            osp.join(out, 'costs.json'), '--out',
            osp.join(out, 'ablation')
        ] + [f'{label}={config}' for label, config in cfg['rungs']],
        env=cfg['env']).returncode


if __name__ == '__main__':
    sys.exit(main())
