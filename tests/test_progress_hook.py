"""ProgressEstimateHook: one plain line with the expected end of training."""
import re
import time
from types import SimpleNamespace

import pytest

from panet_mmdet.engine.hooks import ProgressEstimateHook
from panet_mmdet.engine.hooks.progress_estimate_hook import format_duration


class _Logger:

    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)


def _train(hook, max_iters, first_iter=0, step_s=0.0, slow_first=0.0):
    runner = SimpleNamespace(
        max_iters=max_iters, iter=first_iter, logger=_Logger())
    hook.before_train(runner)
    for i in range(first_iter, max_iters):
        runner.iter = i  # mmengine increments after after_train_iter
        time.sleep(slow_first if i == first_iter else step_s)
        hook.after_train_iter(runner, batch_idx=i)
    return runner.logger.lines


def test_estimate_after_the_timed_iterations_once():
    lines = _train(
        ProgressEstimateHook(skip_iters=2, timed_iters=3),
        50,
        step_s=0.02,
        slow_first=0.3)
    assert len(lines) == 1, lines
    per_iter = float(re.search(r'([0-9.]+) s per iteration', lines[0])[1])
    # the slow first (start-up) iteration is not timed
    assert 0.015 <= per_iter < 0.1, lines[0]
    # 5 done, 45 left
    assert 'the 45 iterations left take about' in lines[0], lines[0]
    assert re.search(r'until about \d\d:\d\d', lines[0]), lines[0]


def test_resumed_run_counts_from_its_own_first_iteration():
    lines = _train(
        ProgressEstimateHook(skip_iters=0, timed_iters=2), 30, first_iter=20)
    assert len(lines) == 1 and 'the 8 iterations left' in lines[0], lines


def test_short_run_prints_nothing():
    assert _train(ProgressEstimateHook(skip_iters=2, timed_iters=10), 5) == []


@pytest.mark.parametrize(
    'kwargs',
    [dict(skip_iters=-1),
     dict(timed_iters=0),
     dict(timed_iters=1.5)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ProgressEstimateHook(**kwargs)


@pytest.mark.parametrize('seconds,text', [(12.4, '12 s'), (89, '89 s'),
                                          (91, '2 min'), (1500, '25 min'),
                                          (3900, '1 h 05 min')])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_demo_schedule_has_it():
    from panet_mmdet.utils.configs import load_config
    cfg = load_config('configs/demo/panet_r18_bufpn-gn_demo.py')
    assert any(h['type'] == 'ProgressEstimateHook' for h in cfg.custom_hooks)
