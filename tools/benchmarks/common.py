"""What the subcommands of ``tools/benchmark.py`` share: the common
options, thread settings, timing, memory and the printed comparison table.

    from benchmarks.common import format_table, measure_steps
    rows = measure_steps({'fwd': {'a': run_a, 'b': run_b}}, 'cpu',
                         repeats=10, warmup=3)
    print(format_table(rows, {'fwd': 'fwd ms'}, ratios=[('a', 'b')]))
"""
import argparse
import os
import re
import statistics
import time
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import torch

Cell = Union[float, int, str, None]


# the detector parts PANet changes, as attribute paths of a two-stage model
# --------------------------------------------------------------- options
def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'{value} is not >= 1')
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'{value} is not >= 0')
    return value


def device_arg(text: str) -> str:
    """argparse type: ``cpu``, ``cuda`` or ``cuda:N``, CUDA only where
    torch sees a GPU."""
    if not re.fullmatch(r'cpu|cuda(:\d+)?', text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one of 'cpu', 'cuda', 'cuda:N'")
    if text.startswith('cuda') and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(
            f'{text!r}: torch {torch.__version__} sees no CUDA device')
    return text


def add_timing_arguments(parser: argparse.ArgumentParser,
                         repeats: int,
                         warmup: int,
                         device: bool = True,
                         threads: Optional[int] = None) -> None:
    """The options every benchmark takes: ``--device`` (where ``device``),
    ``--repeats``, ``--warmup`` and ``--threads`` (see :func:`set_threads`),
    with that benchmark's defaults."""
    if device:
        parser.add_argument(
            '--device',
            type=device_arg,
            default='cpu',
            help="'cpu' (default), 'cuda' or 'cuda:N'")
    parser.add_argument(
        '--repeats',
        type=positive_int,
        default=repeats,
        help='timed calls of each candidate, interleaved; '
        f'the median is printed (default {repeats})')
    parser.add_argument(
        '--warmup',
        type=nonnegative_int,
        default=warmup,
        help=f'untimed calls first (default {warmup})')
    parser.add_argument(
        '--threads',
        type=nonnegative_int,
        default=threads,
        help='CPU threads of torch (0: all cores; default: ' +
        ('all cores)' if threads == 0 else 'as OMP_NUM_THREADS, else '
         "torch's default)"))


def set_threads(threads: Optional[int]) -> int:
    """torch's intra-op threads: ``None`` leaves them (OMP_NUM_THREADS, else
    torch's default), 0 means all cores. Returns the count in use."""
    if threads is not None:
        torch.set_num_threads(threads or os.cpu_count())
    return torch.get_num_threads()


def quiet_mmengine_logs(name: str = 'benchmark') -> None:
    """A WARNING-level MMLogger as the current one, so that
    ``init_weights``' per-parameter report (INFO) stays quiet."""
    from mmengine.logging import MMLogger
    MMLogger.get_instance(name, log_level='WARNING')


# ---------------------------------------------------------------- timing
def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def _time_once(fn: Callable[[], None], device: str) -> float:
    """Seconds of one call: CUDA events on GPU (``device``'s stream, also
    for ``cuda:N``, N > 0), perf_counter on CPU."""
    if device.startswith('cuda'):
        with torch.cuda.device(device):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
        sync(device)
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
        sync(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        sync(device)
        return torch.cuda.max_memory_allocated(device) - base
    return _saved_tensor_bytes(fn)


def no_grad(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` under ``torch.no_grad()``: an inference step."""

    def run():
        with torch.no_grad():
            fn()

    return run


def forward_backward_steps(
    modules: Mapping[str, torch.nn.Module], forward: Callable[[Any], Any],
    loss: Callable[[Any, Any], torch.Tensor]
) -> Dict[str, Dict[str, Callable[[], None]]]:
    """The two steps a module benchmark times, for :func:`measure_steps`.

    Args:
        modules: ``candidate -> module``.
        forward: ``module -> output`` on the benchmark's inputs.
        loss: ``(module, output) -> scalar tensor`` to back-propagate.

    Returns:
        dict: ``{'fwd': forward under no_grad, 'fwd_bwd': forward, loss and
        backward}``, each ``candidate -> fn``.
    """

    def fwd(module):
        return no_grad(lambda: forward(module))

    def fwd_bwd(module):
        return lambda: loss(module, forward(module)).backward()

    return dict(
        fwd={
            k: fwd(m)
            for k, m in modules.items()
        },
        fwd_bwd={
            k: fwd_bwd(m)
            for k, m in modules.items()
        })


def measure_steps(steps: Mapping[str, Mapping[str, Callable[[], None]]],
                  device: str,
                  repeats: int,
                  warmup: int,
                  memory: Optional[str] = None) -> Dict[str, Dict[str, float]]:
    """Each candidate's median milliseconds per step, and its memory.

    Args:
        steps: ``column -> {candidate -> fn}``: the steps to time. Columns
            are measured in this order, each with the candidates'
            calls interleaved (:func:`interleaved_medians`).
        memory: A column whose step's memory (:func:`peak_memory_bytes`,
            MiB) goes in each row under ``'mem'``, measured after all
            timings.

    Returns:
        dict: ``candidate -> {column: median ms, 'mem': MiB}``, rows for
        :func:`format_table`.
    """
    rows: Dict[str, Dict[str, float]] = {}
    for column, fns in steps.items():
        medians = interleaved_medians(fns, device, repeats, warmup)
        for name, seconds in medians.items():
            rows.setdefault(name, {})[column] = seconds * 1e3
    if memory is not None:
        for name, fn in steps[memory].items():
            rows[name]['mem'] = peak_memory_bytes(fn, device) / 2**20
    return rows


def params_m(module: torch.nn.Module) -> float:
    """Parameters of ``module``, in millions."""
    return sum(p.numel() for p in module.parameters()) / 1e6


def device_line(device: str) -> str:
    if device.startswith('cuda'):
        return (f'device: {torch.cuda.get_device_name()} '
                f'(torch {torch.__version__})')
    return (f'device: CPU, {torch.get_num_threads()} threads '
            f'(torch {torch.__version__})')


def memory_label(device: str) -> str:
    """What :func:`peak_memory_bytes` measures on ``device``."""
    return 'peak MiB' if device.startswith('cuda') else 'saved MiB'


# ------------------------------------------------------------------ models
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
            numeric = all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in (x, y))
            cells.append(f'x{x / y:.2f}' if numeric and y else '-')
        body.append([f'{a} / {b}'] + cells)
    if markdown:
        lines = ['| ' + ' | '.join(r) + ' |' for r in body]
        lines.insert(1, '|---' + '|---:' * len(columns) + '|')
        return '\n'.join(lines)
    widths = [max(len(r[i]) for r in body) for i in range(len(body[0]))]
    return '\n'.join('  '.join([r[0].ljust(widths[0])] +
                               [c.rjust(w)
                                for c, w in zip(r[1:], widths[1:])]).rstrip()
                     for r in body)
