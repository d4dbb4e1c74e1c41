"""Checkpoints that a crash cannot leave half-written or missing.

mmengine's ``CheckpointHook`` (0.10) removes the oldest checkpoint *before*
it saves the new one when ``max_keep_ckpts`` is set, writes the new one
straight to its final name and then rewrites ``last_checkpoint``. A kill or a
full disk during the save leaves a truncated file, no older one, and a
``last_checkpoint`` naming a file that is not there: ``--resume`` has
nothing to resume from.

:class:`AtomicCheckpointHook` writes the checkpoint to a temporary file in
the same directory, flushes and fsyncs it, renames it into place (atomic on
POSIX), writes ``last_checkpoint`` the same way, and only then removes
checkpoints beyond ``max_keep_ckpts``. At any moment the directory holds
the previous complete checkpoint or the new one, and ``last_checkpoint``
names a complete file. Leftover temporary files of a killed write are
removed when training starts. Remote backends (``backend_args`` with a
non-local URI) fall back to mmengine's behaviour.

When a run starts (``before_run``, which mmengine calls before it loads or
resumes a checkpoint) the hook allow-lists what mmengine checkpoints
contain for ``torch.load(weights_only=True)``
(:func:`panet_mmdet.utils.allow_mmengine_checkpoints`): a config with this
hook resumes under torch >= 2.6 with any train script, mmdet's own
``tools/train.py --resume`` included. ``import panet_mmdet`` alone does not
touch torch's allow-list.

Fault injection for tests: ``PANET_FAULT_KILL_IN_SAVE=N:PHASE`` SIGKILLs the
process during its N-th save (1-based) at ``PHASE``: ``written`` (the
temporary file is complete, not yet renamed), ``renamed`` (before
``last_checkpoint`` is updated) or ``pointed`` (before old checkpoints are
removed).
"""
import glob
import os
import os.path as osp
import signal
from collections import deque

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from ...checkpoint import allow_mmengine_checkpoints

_FAULT_ENV = 'PANET_FAULT_KILL_IN_SAVE'
_PHASES = ('written', 'renamed', 'pointed')


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomically(path: str, text: str) -> None:
    """``path`` holds ``text`` or its previous content, never a part."""
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(osp.dirname(osp.abspath(path)))


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with crash-safe writes (see the module docstring).

    Takes every ``CheckpointHook`` argument; file names, ``last_checkpoint``
    and ``max_keep_ckpts`` behave as in mmengine once a save has finished.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._saves = 0

    def _local(self) -> bool:
        return type(self.file_backend).__name__ == 'LocalBackend'

    def before_run(self, runner) -> None:
        super().before_run(runner)
        # before Runner.load_or_resume: our checkpoints must load back
        allow_mmengine_checkpoints()

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._local() and is_main_process():
            for leftover in glob.glob(osp.join(self.out_dir, '.*.tmp')):
                os.remove(leftover)

    def _fault(self, phase: str) -> None:
        spec = os.environ.get(_FAULT_ENV)
        if spec and spec == f'{self._saves}:{phase}':
            os.kill(os.getpid(), signal.SIGKILL)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self._local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        self._saves += 1
        name = self.filename_tmpl.format(step)
        final = osp.join(self.out_dir, name)
        # what the saved message hub records: as mmengine's hook, the new
        # checkpoint included (a resumed run keeps counting from it)
        ids = list(getattr(self, 'keep_ckpt_ids', []))
        stale = []
        if self.max_keep_ckpts > 0:
            if not ids or ids[-1] != step:
                ids.append(step)
            stale, ids = ids[:-self.max_keep_ckpts], ids[-self.max_keep_ckpts:]
            self.keep_ckpt_ids = deque(ids, self.max_keep_ckpts)
            runner.message_hub.update_info('keep_ckpt_ids', ids)
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', final)

        tmp_name = f'.{name}.{os.getpid()}.tmp'
        runner.save_checkpoint(
            self.out_dir,
            tmp_name,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        tmp = osp.join(self.out_dir, tmp_name)
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        self._fault('written')
        os.replace(tmp, final)
        _fsync_dir(self.out_dir)
        self._fault('renamed')
        write_text_atomically(
            osp.join(runner.work_dir, 'last_checkpoint'), final)
        self._fault('pointed')
        for old in stale:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)


def checkpoint_is_intact(path: str) -> bool:
    """Whether ``path`` is a complete torch (zip) checkpoint: every entry's
    CRC checks out. Reads the file, unpickles nothing."""
    import zipfile
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
