"""Tell the person at the terminal how long training will take here.

mmengine logs an ``eta`` with every logged iteration; for a run someone
watches (``make demo``), this hook says it once, plainly, early: after
``timed_iters`` iterations past the first ``skip_iters`` (start-up, the
first batches' allocations and the LR warm-up's first steps are slower), it
logs the measured seconds per iteration, how long the remaining iterations
will take at that pace, and the wall-clock time they should end.
"""
import time
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def format_duration(seconds: float) -> str:
    """``'45 s'``, ``'12 min'``, ``'1 h 05 min'``."""
    if seconds < 90:
        return f'{seconds:.0f} s'
    minutes = round(seconds / 60)
    if minutes < 60:
        return f'{minutes} min'
    return f'{minutes // 60} h {minutes % 60:02d} min'


@HOOKS.register_module()
class ProgressEstimateHook(Hook):
    """Log one line with the expected end of an iteration-based training.

    Args:
        skip_iters (int): iterations not timed (start-up). Default 2.
        timed_iters (int): iterations timed for the estimate. Default 10.
    """

    priority = 'VERY_LOW'

    def __init__(self, skip_iters: int = 2, timed_iters: int = 10) -> None:
        for name, value, low in (('skip_iters', skip_iters, 0),
                                 ('timed_iters', timed_iters, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(
                    f'{name} must be an int >= {low}, got {value!r}')
        self.skip_iters = skip_iters
        self.timed_iters = timed_iters
        self._seen = 0
        self._start: Optional[float] = None
        self._reported = False

    def before_train(self, runner) -> None:
        self._seen, self._reported = 0, False
        self._start = time.perf_counter() if self.skip_iters == 0 else None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._seen += 1  # iterations of this process (a resume starts at 0)
        if self._seen == self.skip_iters:
            self._start = time.perf_counter()
            return
        if self._reported or self._start is None or \
                self._seen != self.skip_iters + self.timed_iters:
            return
        self._reported = True
        per_iter = (time.perf_counter() - self._start) / self.timed_iters
        left_iters = runner.max_iters - (runner.iter + 1)
        left = left_iters * per_iter
        end = time.strftime('%H:%M', time.localtime(time.time() + left))
        runner.logger.info(
            f'progress: {per_iter:.2f} s per iteration on this machine: the '
            f'{left_iters} iterations left take about '
            f'{format_duration(left)} (until about {end})')
