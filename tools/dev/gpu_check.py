"""One command that proves the GPU path on one GPU (docs/gpu.md).

    python tools/dev/gpu_check.py [--out work_dirs/gpu_check] [--quick]

After ``make setup`` on a machine with one usable GPU (meant to take at most
8 minutes; not yet timed on a GPU):

1. ``mmcv``: the installed mmcv's RoIAlign and NMS on the GPU equal the CPU's
   (tools/mmcv_wheel.py verify-cuda);
2. ``gpu tests``: the suite's GPU tests (``pytest -m gpu``);
3. ``components``: the PANet neck, adaptive feature pooling and the
   fully-connected-fusion mask head on CUDA against the CPU, fp32 (TF32 off)
   and fp16 autocast, same weights and inputs;
4. ``amp train + resume``: the demo config trained 4 iterations with
   ``--amp`` on generated demo data, then resumed to 6;
5. ``test + infer``: ``tools/test.py`` and ``tools/infer.py`` on the GPU with
   that checkpoint;
6. ``benchmark``: PANet R-50 against mmdet's stock Mask R-CNN R-50 at
   800x1333, batch 2, train step and inference, fp32 and AMP (medians after
   warm-up, their ratio, peak memory), synthetic inputs
   (``tools/benchmark.py model``);
7. ``onnx cuda``: the trained demo model exported, ONNX Runtime's CUDA
   provider against its CPU provider (needs the ``onnxruntime-gpu``
   package instead of ``onnxruntime``; reported as skipped without it).

It prints one table (step, result, seconds, what was measured) and writes it
with every number as ``gpu_check.json`` in ``--out``; it exits non-zero
when a step fails, and at once, saying so, on a machine without a usable
GPU.
"""
import argparse
import importlib
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
import time
import traceback

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = 'configs/demo/panet_r18_bufpn-gn_demo.py'
PANET_R50 = 'configs/panet/panet_r50_bufpn-gn_1x_coco.py'
STOCK_R50 = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'


class Failed(Exception):
    """A check that ran and found something wrong."""


class Skipped(Exception):
    """A check that cannot run here (the reason is its message)."""


def _run(cmd, timeout, env=None):
    """A repo command with this interpreter; its output on failure."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        [sys.executable] + cmd,
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise Failed(f'`{" ".join(cmd[:2])}` exited {proc.returncode}: ' +
                     ' | '.join(tail))
    return proc.stdout + proc.stderr


def _tools_module(name, package=False):
    """``tools/<name>.py`` (or the package ``tools/<name>/``) imported by
    its file, as the tools are not on ``sys.path``."""
    path = osp.join(ROOT, 'tools', *name.split('/'))
    spec = importlib.util.spec_from_file_location(
        osp.basename(name),
        osp.join(path, '__init__.py') if package else path + '.py',
        submodule_search_locations=[path] if package else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ steps
def check_mmcv(ctx):
    # the set-up's own check (tools/setup_env.sh)
    out = _run(['tools/mmcv_wheel.py', 'verify-cuda'], timeout=120)
    return out.strip().splitlines()[-1]


def check_gpu_tests(ctx):
    out = _run(
        ['-m', 'pytest', 'tests', '-m', 'gpu', '-q', '-p', 'no:cacheprovider'],
        timeout=300)
    summary = out.strip().splitlines()[-1]
    if 'passed' not in summary or 'skipped' in summary:
        raise Failed(f'expected every GPU test to run and pass: {summary}')
    return {'summary': summary}


def _rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return float((a - b).norm() / b.norm().clamp(min=1e-12))


def compare_components(device='cuda', half=None):
    """Relative L2 differences of each PANet part (the demo config, random
    weights) on ``device`` against the CPU in fp32, same weights and
    inputs: ``{part}_fp32_rel`` and, under ``half`` autocast (default
    fp16 on CUDA), ``{part}_half_rel``. TF32 off."""
    import torch
    from mmengine.config import Config

    from panet_mmdet.apis import build_detector
    half = half or torch.float16
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, DEMO))
    model = build_detector(cfg).eval()
    other = build_detector(cfg, device=device).eval()
    other.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(1)
    inputs = [  # backbone outputs at strides 4-32 of a 256x384 batch
        torch.randn(2, c, 64 // 2**i, 96 // 2**i, generator=g)
        for i, c in enumerate(cfg.model.neck.in_channels)
    ]
    rois = torch.tensor([[0., 4., 6., 60., 50.], [1., 20., 10., 90., 62.],
                         [0., 30., 2., 50., 40.]])

    def parts(m, dev, dtype=None):
        with torch.no_grad(), torch.autocast(
                dev.split(':')[0], dtype=dtype, enabled=dtype is not None):
            feats = m.neck([x.to(dev) for x in inputs])
            head = m.roi_head
            box = head.bbox_roi_extractor(
                feats[:head.bbox_roi_extractor.num_inputs], rois.to(dev))
            mask_feats = head.mask_roi_extractor(
                feats[:head.mask_roi_extractor.num_inputs], rois.to(dev))
            masks = head.mask_head(mask_feats)
        return dict(
            neck=torch.cat([f.flatten() for f in feats]),
            afp=box.flatten(),
            mask_head=masks.flatten())

    cpu = parts(model, 'cpu')
    full = parts(other, device)
    low = parts(other, device, half)
    results = {}
    for name in cpu:
        results[f'{name}_fp32_rel'] = _rel(full[name], cpu[name])
        results[f'{name}_half_rel'] = _rel(low[name].float(), cpu[name])
    return results


def check_components(ctx):
    """CUDA fp32 within 1e-5 of the CPU, fp16 autocast within 1e-2."""
    results = compare_components('cuda')
    bad = {
        k: v
        for k, v in results.items() if v > (1e-5 if 'fp32' in k else 1e-2)
    }
    if bad:
        raise Failed(f'CUDA differs from the CPU: {bad}')
    return results


def _demo_data(ctx):
    data = osp.join(ctx['out'], 'data')
    if not osp.isfile(osp.join(data, 'annotations', 'instances_val.json')):
        _run([
            'tools/make_demo_data.py', '--out', data, '--num-train', '16',
            '--num-val', '8'
        ],
             timeout=120)
    # tools/demo_data_options.sh's --cfg-options, as run_demo.sh uses them
    options = _tools_module('analysis/run_ablation').demo_data_options(data)
    return data, options


def check_amp_train_resume(ctx):
    data, options = _demo_data(ctx)
    work = osp.join(ctx['out'], 'amp_train')
    common = [
        'tools/train.py', DEMO, '--work-dir', work, '--amp', '--cfg-options',
        *options, 'train_cfg.val_interval=1000',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1'
    ]
    _run(common + ['train_cfg.max_iters=4'], timeout=300)
    out = _run(
        common[:5] + ['--resume'] + common[5:] + ['train_cfg.max_iters=6'],
        timeout=300)
    if 'resumed epoch: 0, iter: 4' not in out:
        raise Failed('the --amp run did not resume from iteration 4')
    ckpt = osp.join(work, 'iter_6.pth')
    if not osp.isfile(ckpt):
        raise Failed(f'{ckpt} missing after the resumed run')
    losses = [
        json.loads(line)['loss'] for line in open(_scalars(work))
        if '"loss"' in line
    ]
    if not losses or not all(x == x and abs(x) < 1e6 for x in losses):
        raise Failed(f'losses not finite: {losses}')
    ctx['checkpoint'] = ckpt
    return {'iterations': 6, 'last_loss': losses[-1]}


def _scalars(work):
    found = sorted(
        osp.join(work, d, 'vis_data', 'scalars.json') for d in os.listdir(work)
        if osp.isfile(osp.join(work, d, 'vis_data', 'scalars.json')))
    return found[-1]


def check_test_and_infer(ctx):
    if 'checkpoint' not in ctx:
        raise Skipped('needs the amp train step')
    data, options = _demo_data(ctx)
    out = _run([
        'tools/test.py', DEMO, ctx['checkpoint'], '--work-dir',
        osp.join(ctx['out'], 'test'), '--cfg-options', *options
    ],
               timeout=300)
    if 'coco/segm_mAP' not in out:
        raise Failed('tools/test.py printed no COCO mask AP')
    vis = osp.join(ctx['out'], 'infer')
    _run([
        'tools/infer.py',
        osp.join(data, 'val', '*.png'), DEMO, ctx['checkpoint'], '--out-dir',
        vis, '--device', 'cuda'
    ],
         timeout=300)
    drawn = len(os.listdir(osp.join(vis, 'vis')))
    return {'test': 'COCO bbox + segm AP computed', 'images_drawn': drawn}


def check_benchmark(ctx):
    _tools_module('benchmarks', package=True)
    bench = importlib.import_module('benchmarks.model')
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    args = p.parse_args([
        PANET_R50, STOCK_R50, '--device', 'cuda', '--img-size', '800', '1333',
        '--batch', '2', '--amp', '--repeats', '5' if ctx['quick'] else '20',
        '--warmup', '3'
    ])
    tables = bench.run(args)
    return json.loads(json.dumps(tables, default=float))


def check_onnx_cuda(ctx):
    import onnxruntime as ort
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        raise Skipped(f'onnxruntime {ort.__version__} has no CUDA provider '
                      '(pip install onnxruntime-gpu instead of onnxruntime)')
    if 'checkpoint' not in ctx:
        raise Skipped('needs the amp train step')
    import cv2

    from panet_mmdet.deployment import compare_detections
    from panet_mmdet.deployment.onnx_infer import PROVIDERS
    from panet_mmdet.deployment.runtime import OnnxDetector
    data, _ = _demo_data(ctx)
    onnx_path = osp.join(ctx['out'], 'demo.onnx')
    _run(
        [
            'tools/deployment/export_onnx.py',
            DEMO,
            ctx['checkpoint'],
            '--out',
            onnx_path,
            '--shape',
            '256',
            '256'  # the demo's test resize
        ],
        timeout=300)
    cpu = OnnxDetector(onnx_path, providers=PROVIDERS['cpu'])
    gpu = OnnxDetector(onnx_path, providers=PROVIDERS['cuda'])
    images = sorted(os.listdir(osp.join(data, 'val')))[:4]
    matched = 0
    for name in images:
        image = cv2.imread(osp.join(data, 'val', name))
        report = compare_detections(cpu(image), gpu(image))
        if not report.ok():
            raise Failed(f'{name}: CUDA provider differs: {report.summary()}')
        matched += report.matched
    return {'images': len(images), 'detections_matched': matched}


STEPS = [('mmcv', check_mmcv), ('gpu tests', check_gpu_tests),
         ('components', check_components),
         ('amp train + resume', check_amp_train_resume),
         ('test + infer', check_test_and_infer),
         ('benchmark', check_benchmark), ('onnx cuda', check_onnx_cuda)]


def _short(detail, width=70):
    text = json.dumps(
        detail, default=str) if not isinstance(detail, str) else detail
    return text if len(text) <= width else text[:width - 3] + '...'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default=osp.join(ROOT, 'work_dirs', 'gpu_check'))
    p.add_argument(
        '--quick',
        action='store_true',
        help='fewer benchmark repeats (5 instead of 20)')
    args = p.parse_args(argv)
    import torch
    if not torch.cuda.is_available():
        sys.stderr.write(
            'gpu_check: no usable GPU here (torch.cuda.is_available() is '
            'False); run it on a GPU machine after make setup\n')
        return 2
    os.makedirs(args.out, exist_ok=True)
    ctx = dict(out=args.out, quick=args.quick)
    rows = []
    device = (f'{torch.cuda.get_device_name(0)}, torch {torch.__version__} '
              f'(CUDA {torch.version.cuda})')
    print(f'gpu_check on {device}')
    for name, step in STEPS:
        start = time.time()
        try:
            result, detail = 'pass', step(ctx)
        except Skipped as e:
            result, detail = 'skip', str(e)
        except Failed as e:
            result, detail = 'FAIL', str(e)
        except Exception as e:  # a crash is a failure, with its trace
            result = 'FAIL'
            detail = f'{type(e).__name__}: {e}'
            traceback.print_exc()
        rows.append(
            dict(
                step=name,
                result=result,
                seconds=round(time.time() - start, 1),
                detail=detail))
        print(f'  {name}: {result} ({rows[-1]["seconds"]} s)', flush=True)
    print(f'\n{"step":<20} {"result":<6} {"s":>6}  detail')
    for row in rows:
        print(f'{row["step"]:<20} {row["result"]:<6} {row["seconds"]:>6}  '
              f'{_short(row["detail"])}')
    path = osp.join(args.out, 'gpu_check.json')
    with open(path, 'w') as f:
        json.dump(dict(device=device, steps=rows), f, indent=1, default=str)
    print(f'\nall numbers: {path}')
    return 1 if any(r['result'] == 'FAIL' for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main())
