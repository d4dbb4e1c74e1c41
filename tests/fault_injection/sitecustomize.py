"""Fault injection for tests/test_crash_safety.py.

Python imports this module at start-up in the processes whose PYTHONPATH
holds this folder, which only those tests' training runs have (the tests'
served interpreter, tests/tool_server.py, imports it the same way). The
product carries no fault switch.

``PANET_FAULT_KILL_IN_SAVE=N:PHASE`` SIGKILLs the process during its N-th
checkpoint save (1-based) at ``PHASE``: ``written`` (the temporary file is
complete, not yet renamed), ``renamed`` (before ``last_checkpoint`` is
updated) or ``pointed`` (before old checkpoints are removed).
"""
import os
import signal

SPEC = os.environ.get('PANET_FAULT_KILL_IN_SAVE')


def _install(spec: str) -> None:
    n, phase = spec.split(':')
    n = int(n)
    if phase not in ('written', 'renamed', 'pointed'):
        raise ValueError(f'PANET_FAULT_KILL_IN_SAVE: unknown phase {phase!r}')
    from panet_mmdet.engine.hooks import AtomicCheckpointHook
    saves = [0]
    real_replace = os.replace
    real_remove_old = AtomicCheckpointHook._remove_old

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    def replace(src, dst, *args, **kwargs):
        if not str(dst).endswith('.pth'):
            return real_replace(src, dst, *args, **kwargs)
        saves[0] += 1
        if saves[0] == n and phase == 'written':
            kill()
        real_replace(src, dst, *args, **kwargs)
        if saves[0] == n and phase == 'renamed':
            kill()

    def remove_old(self, runner):
        if saves[0] == n and phase == 'pointed':
            kill()
        real_remove_old(self, runner)

    os.replace = replace
    AtomicCheckpointHook._remove_old = remove_old


if SPEC:
    _install(SPEC)
