"""``--resume``: which checkpoint a run continues from, and the files a run
loads at its start, verified before anything is built."""
import glob
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.runner.checkpoint import find_latest_checkpoint

from .files import is_intact
from .layout import CHECKPOINT_DIR, FULL, LATEST, LIGHTWEIGHT

CHECKPOINT_PATTERNS = ('*.pth', 'checkpoints/*.pth')


def existing_checkpoints(work_dir: str) -> list:
    return sorted(
        p for pattern in CHECKPOINT_PATTERNS
        for p in glob.glob(osp.join(work_dir, pattern)))


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
                      LATEST), 'the newest full state: the last epoch\'s end, '
             'or where a preemption stopped it'))
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
