"""Timing and memory helpers shared by the benchmark scripts in ``tools/``.

    from panet_mmdet.utils.benchmarking import interleaved_medians
    medians = interleaved_medians({'a': run_a, 'b': run_b}, 'cpu',
                                  repeats=10, warmup=3)
"""
import statistics
import time
from typing import Callable, Dict, List

import torch


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
