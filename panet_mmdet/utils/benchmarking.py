"""What the benchmark and analysis scripts in ``tools/`` share: timing,
memory, model summaries (parameters and FLOPs per part) and the printed
comparison table.

    from panet_mmdet.utils.benchmarking import (format_table,
                                                interleaved_medians)
    medians = interleaved_medians({'a': run_a, 'b': run_b}, 'cpu',
                                  repeats=10, warmup=3)
    print(format_table({k: {'ms': v * 1e3} for k, v in medians.items()},
                       {'ms': 'median ms'}, ratios=[('a', 'b')]))
"""
import statistics
import time
from typing import Callable, Dict, List, Mapping, Sequence, Tuple, Union

import torch
from mmengine.config import Config

from .configs import load_config, offline_model_cfg

Cell = Union[float, int, str, None]
# the detector parts PANet changes, as attribute paths of a two-stage model
SUMMARY_PARTS = ('backbone', 'neck', 'rpn_head', 'roi_head.bbox_roi_extractor',
                 'roi_head.bbox_head', 'roi_head.mask_roi_extractor',
                 'roi_head.mask_head')


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _time_once(fn: Callable[[], None], device: str) -> float:
    """Seconds of one call: CUDA events on GPU, perf_counter on CPU."""
    if device.startswith('cuda'):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved_medians(fns: Dict[str, Callable[[], None]], device: str,
                        repeats: int, warmup: int) -> Dict[str, float]:
    """Median seconds of each fn, calls interleaved after warm-up so that
    machine noise hits all candidates alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync(device)
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_time_once(fn, device))
    return {k: statistics.median(v) for k, v in times.items()}


def _saved_tensor_bytes(fn: Callable[[], None]) -> int:
    """Bytes of the tensors autograd saves for backward during fn (storage
    counted once, parameters excluded): the activation memory a training
    step holds on top of the model's weights."""
    seen = {}

    def pack(t):
        base = t._base if t._base is not None else t
        if isinstance(base, torch.nn.Parameter):  # weights (or their views)
            return t
        try:
            key = t.untyped_storage().data_ptr()
            seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        except RuntimeError:
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def peak_memory_bytes(fn: Callable[[], None], device: str) -> int:
    """CUDA: peak allocated during fn above what was allocated before.
    CPU: saved-for-backward activation bytes (see _saved_tensor_bytes)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    return _saved_tensor_bytes(fn)


def device_line(device: str) -> str:
    if device.startswith('cuda'):
        return f'device: {torch.cuda.get_device_name()} (torch {torch.__version__})'
    return (f'device: CPU, {torch.get_num_threads()} threads '
            f'(torch {torch.__version__})')


def memory_label(device: str) -> str:
    """What :func:`peak_memory_bytes` measures on ``device``."""
    return 'peak MiB' if device.startswith('cuda') else 'saved MiB'


# ------------------------------------------------------------------ models
def build_detector(config: Union[str, Config],
                   device: str = 'cpu') -> torch.nn.Module:
    """The config's model with its random initialisation, on ``device``.

    Imports the config's ``custom_imports`` and downloads nothing: timm
    backbones are built with ``pretrained=False`` (mmdet's ``init_cfg``
    weights load only in ``init_weights``, which is not called).
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = load_config(config) if isinstance(config, str) else config
    return MODELS.build(offline_model_cfg(cfg)).to(device)


def model_summary(config: str,
                  shape: Tuple[int, int]) -> Dict[str, Tuple[int, int]]:
    """Parameters and inference FLOPs of a detector, per part and in total.

    Counts with mmengine's ``FlopAnalyzer`` on one random ``(1, 3, H, W)``
    image through ``predict`` (RPN proposals -> RoI heads). The score
    threshold is set to 0 so that the mask branch always sees
    ``test_cfg.rcnn.max_per_img`` detections, the worst case at test time.
    RoIAlign and NMS count as 0 FLOPs (the analyzer has no formula for them).

    Returns:
        dict: ``part -> (parameters, FLOPs)`` for each of
        :data:`SUMMARY_PARTS` the model has, and ``'total'``.
    """
    from mmdet.structures import DetDataSample
    from mmengine.analysis import FlopAnalyzer
    cfg = load_config(config)
    if cfg.model.get('test_cfg', {}).get('rcnn') is not None:
        cfg.model.test_cfg.rcnn.score_thr = 0.0
    model = build_detector(cfg).eval()
    h, w = shape
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                         pad_shape=(h, w),
                                         scale_factor=(1., 1.),
                                         batch_input_shape=(h, w)))
    torch.manual_seed(0)
    x = torch.rand(1, 3, h, w)

    class Predict(torch.nn.Module):

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            # return every output: the tracer drops ops that feed nothing
            inst = self.m.predict(x, [sample], rescale=False)[0].pred_instances
            return tuple(inst[k] for k in ('bboxes', 'scores', 'masks')
                         if k in inst)

    with torch.no_grad():
        analyzer = FlopAnalyzer(Predict(model), (x, ))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_module = analyzer.by_module()
    rows = {}
    for part in SUMMARY_PARTS:
        module = model
        try:
            for attr in part.split('.'):
                module = getattr(module, attr)
        except AttributeError:
            continue
        rows[part] = (sum(p.numel() for p in module.parameters()),
                      by_module.get('m.' + part, 0))
    rows['total'] = (sum(p.numel() for p in model.parameters()),
                     by_module.get('', 0))
    return rows


# ------------------------------------------------------------------- table
def _cell(value: Cell) -> str:
    if value is None:
        return '-'
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    magnitude = abs(value)
    return f'{value:.2f}' if magnitude < 100 else f'{value:.1f}' \
        if magnitude < 10000 else f'{value:.0f}'


def format_table(rows: Mapping[str, Mapping[str, Cell]],
                 columns: Mapping[str, str],
                 ratios: Sequence[Tuple[str, str]] = (),
                 label: str = '',
                 markdown: bool = False) -> str:
    """Rows of measurements, then one row of ratios per ``(a, b)`` pair.

    Args:
        rows: ``name -> {column key: value}``; a missing value prints ``-``.
        columns: ``column key -> header``, in print order.
        ratios: Pairs of row names; the row ``a / b`` holds
            ``rows[a][k] / rows[b][k]`` for every numeric column ``k``.
        label: Header of the name column.
        markdown: A Markdown table instead of aligned plain text.

    Returns:
        str: the table, lines joined by newlines.
    """
    body: List[List[str]] = [[label] + list(columns.values())]
    for name, values in rows.items():
        body.append([name] + [_cell(values.get(k)) for k in columns])
    for a, b in ratios:
        cells = []
        for k in columns:
            x, y = rows[a].get(k), rows[b].get(k)
            numeric = all(isinstance(v, (int, float)) and
                          not isinstance(v, bool) for v in (x, y))
            cells.append(f'x{x / y:.2f}' if numeric and y else '-')
        body.append([f'{a} / {b}'] + cells)
    if markdown:
        lines = ['| ' + ' | '.join(r) + ' |' for r in body]
        lines.insert(1, '|---' + '|---:' * len(columns) + '|')
        return '\n'.join(lines)
    widths = [max(len(r[i]) for r in body) for i in range(len(body[0]))]
    return '\n'.join(
        '  '.join([r[0].ljust(widths[0])] +
                  [c.rjust(w) for c, w in zip(r[1:], widths[1:])]).rstrip()
        for r in body)
