"""``--resume``: which checkpoint a run continues from, and the files a run
loads at its start, verified before anything is built."""
import glob
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner.checkpoint import find_latest_checkpoint

from ..errors import InputError
from ..tracking.runs import continue_mlflow_run
from .files import is_intact, verify_checkpoint_file
from .layout import CHECKPOINT_DIR, FULL, LATEST, LIGHTWEIGHT

CHECKPOINT_PATTERNS = ('*.pth', 'checkpoints/*.pth')


def existing_checkpoints(work_dir: str) -> list:
    return sorted(
        p for pattern in CHECKPOINT_PATTERNS
        for p in glob.glob(osp.join(work_dir, pattern)))


def set_resume(cfg: Config, resume: Optional[str]) -> None:
    """Apply ``--resume``: ``'auto'`` takes the newest checkpoint in the work
    dir, a path takes that file. Without ``--resume`` a work dir that holds
    checkpoints is refused, so a new run never overwrites an old one.
    """
    if resume is None:
        found = existing_checkpoints(cfg.work_dir)
        if found:
            raise InputError(
                f'{cfg.work_dir}: already holds checkpoints from an earlier '
                f'run ({osp.basename(found[-1])}, ...); pass --resume to '
                'continue it or --work-dir to start a new one')
        return
    cfg.resume = True
    if resume == 'auto':
        resume, why = resume_checkpoint(cfg.work_dir)
        if resume is None:
            raise InputError(
                f'{cfg.work_dir}: --resume found no checkpoint to continue '
                f'from ({why}); pass its path (--resume PATH) or drop '
                '--resume')
        print_log(f'--resume: {resume} ({why})', logger='current')
    verify_checkpoint_file(resume)
    cfg.load_from = resume
    continue_mlflow_run(cfg, resume)


def verify_start_checkpoints(cfg: Config) -> None:
    """Check, before anything is built, the local files a run will load
    besides ``--resume``: ``load_from``, else the COCO transplant's
    checkpoint (the hook skips itself on resume or ``load_from``; a missing
    file is its documented fallback). URLs are checked by the safe loader
    when fetched."""
    if cfg.get('resume'):
        return
    if cfg.get('load_from'):
        if '://' not in cfg.load_from:
            verify_checkpoint_file(cfg.load_from)
        return
    for hook in cfg.get('custom_hooks') or []:
        path = hook.get('checkpoint')
        if hook.get('type') == 'CocoTransplantHook' and path \
                and osp.isfile(path):
            verify_checkpoint_file(path)


def _epochs_newest_first(folder: str, template: str) -> List[str]:
    pattern = re.compile('^' + re.escape(template).replace(r'\{\}', r'(\d+)') +
                         '$')
    found = [(int(m.group(1)), name) for name in os.listdir(folder)
             if (m := pattern.match(name))]
    return [osp.join(folder, name) for _, name in sorted(found, reverse=True)]


def resume_checkpoint(work_dir: str) -> Tuple[Optional[str], str]:
    """The checkpoint ``--resume`` continues from, and why: the first intact
    one of ``checkpoints/latest_checkpoint.pth``, the newest full
    ``checkpoint_epoch_N.pth``, the newest lightweight one (weights only),
    then the file MMEngine's ``last_checkpoint`` names (configs with
    MMEngine's own CheckpointHook). ``(None, reason)`` when there is none."""
    folder = osp.join(work_dir, CHECKPOINT_DIR)
    candidates = []
    if osp.isdir(folder):
        candidates.append(
            (osp.join(folder,
                      LATEST), 'the full state after the last finished epoch'))
        candidates += [(p, 'the newest intact full checkpoint')
                       for p in _epochs_newest_first(folder, FULL)]
        candidates += [(p, 'the newest intact checkpoint, weights only: the '
                        'optimizer starts cold')
                       for p in _epochs_newest_first(folder, LIGHTWEIGHT)]
    mmengine_last = find_latest_checkpoint(work_dir)
    if mmengine_last and mmengine_last not in [p for p, _ in candidates]:
        candidates.append((mmengine_last, 'named by last_checkpoint'))
    skipped = []
    for path, why in candidates:
        if not osp.isfile(path):
            continue
        if is_intact(path):
            if skipped:
                why += f'; skipped {", ".join(skipped)}'
            return path, why
        skipped.append(f'{osp.basename(path)} (not intact)')
    return None, ', '.join(skipped) or f'no checkpoint in {work_dir}'
