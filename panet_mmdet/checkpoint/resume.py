"""Which checkpoint a resumed run starts from.

mmengine's ``Runner`` with ``resume=True`` and no ``load_from`` reads
``last_checkpoint`` and fails when the file it names is gone or truncated.
:func:`find_resumable_checkpoint` picks the newest *intact* checkpoint
instead; :class:`~panet_mmdet.engine.hooks.AtomicCheckpointHook` applies it
before the runner resumes, so every train script gets it (ours and mmdet's
``tools/train.py --resume``).
"""
import glob
import os
import os.path as osp
import zipfile


def checkpoint_is_intact(path: str) -> bool:
    """Whether ``path`` is a complete torch (zip) checkpoint: every entry's
    CRC checks out. Reads the file, unpickles nothing."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def _step_of(path: str) -> int:
    stem = osp.splitext(osp.basename(path))[0]
    digits = stem.rsplit('_', 1)[-1]
    return int(digits) if digits.isdigit() else -1


def find_resumable_checkpoint(work_dir: str, log=print):
    """The checkpoint ``--resume`` (without a path) should use: the intact
    ``*.pth`` of ``work_dir`` with the highest step in its name, which is
    ``last_checkpoint``'s file unless a crash came between a checkpoint's
    rename and the pointer's update, or that file is gone or unreadable (then
    ``log`` says so). ``None`` when there is none.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip() or None
    candidates = sorted(
        glob.glob(osp.join(work_dir, '*.pth')),
        key=lambda p: (_step_of(p), osp.getmtime(p)),
        reverse=True)
    found = next((p for p in candidates if checkpoint_is_intact(p)), None)
    if named and not (osp.isfile(named) and checkpoint_is_intact(named)):
        state = 'missing' if not osp.isfile(named) else 'unreadable'
        log(f'resume: last_checkpoint names {named}, which is {state}; ' +
            (f'resuming from {found}, the newest intact checkpoint'
             if found else f'no intact checkpoint in {work_dir}: training '
             'starts afresh'))
    return found


def restart_count(env=None) -> int:
    """How often the launcher has restarted this run: torchrun's
    ``TORCHELASTIC_RESTART_COUNT``, or Slurm's ``SLURM_RESTART_COUNT`` for
    a requeued job; 0 for a first start."""
    env = os.environ if env is None else env
    for key in ('TORCHELASTIC_RESTART_COUNT', 'SLURM_RESTART_COUNT'):
        value = env.get(key, '').strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


def resume_plan(work_dir: str,
                resume,
                load_from=None,
                restarted: bool = False):
    """``(resume, load_from)`` for mmengine's Runner from ``--resume``.

    Args:
        work_dir: The run's work dir.
        resume: None (no ``--resume``), ``'auto'`` (``--resume`` without a
            path) or a checkpoint path.
        load_from: The config's ``load_from`` (weights to start from).
        restarted: The launcher restarted this run (:func:`restart_count`).

    ``'auto'`` resumes from the work dir's newest intact checkpoint when
    there is one and otherwise starts as a fresh run does (from
    ``load_from`` when the config names one), so a launcher can pass
    ``--resume`` to every start. A restarted run resumes from the work
    dir's newest checkpoint even when ``--resume`` named a path (the path
    is where the first start began). Returns ``(None, load_from)`` without
    ``--resume`` on a first start: the config decides.
    """
    if resume is None and not restarted:
        return None, load_from
    if resume not in (None, 'auto') and not restarted:
        return True, resume
    found = find_resumable_checkpoint(work_dir, log=lambda msg: None)
    if found is not None:
        return True, None  # mmengine reads last_checkpoint (kept right)
    if resume in (None, 'auto'):
        return False, load_from
    return True, resume
