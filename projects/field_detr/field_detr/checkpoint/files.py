"""Checkpoint files: written atomically, verified before anything is
unpickled, loaded with torch's safe loader, keys revised as MMEngine does.

Every file field_detr writes (checkpoints, ``best_model.pth``, the exported
model) goes to a temporary name first and is renamed over the final name
after an ``fsync`` (:func:`fsync_replace`), so a reader or a crash sees the
old file or the new one, never a partial write. Every file it reads goes
through :func:`verify_checkpoint_file` first: a missing, truncated, corrupt
or unsafe file is refused with one line (:class:`~field_detr.errors.
InputError`) instead of a traceback from inside ``torch.load``.
"""
import inspect
import os
import os.path as osp
import re
import zipfile
from typing import Dict, List, Sequence, Tuple

import torch
from mmengine.runner.checkpoint import load_checkpoint

from ..errors import InputError

#: MMEngine's default ``revise_keys`` of ``load_checkpoint``: drop the
#: ``module.`` prefix (Distributed)DataParallel adds.
MMENGINE_REVISE_KEYS: List[Tuple[str, str]] = inspect.signature(
    load_checkpoint).parameters['revise_keys'].default


def fsync_replace(tmp_path: str, final_path: str) -> None:
    """Flush ``tmp_path`` to disk and rename it over ``final_path``.

    The rename is atomic on POSIX file systems: a reader (or a crash) sees
    the old file or the new one, never a partial write.
    """
    with open(tmp_path, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(tmp_path, final_path)
    dir_fd = os.open(osp.dirname(final_path) or '.', os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_atomic(obj, path: str) -> None:
    """``torch.save`` ``obj`` to ``path`` through a temporary file."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    torch.save(obj, tmp)
    fsync_replace(tmp, path)


def verify_checkpoint_file(path: str) -> None:
    """Refuse a missing, truncated, corrupt or unsafe checkpoint with one
    line, before anything is unpickled."""
    if not osp.isfile(path):
        raise InputError(f'{path}: checkpoint not found')
    if not zipfile.is_zipfile(path):
        raise InputError(
            f'{path}: not a readable checkpoint (truncated or corrupt: no '
            'zip directory); use another checkpoint, e.g. the previous '
            'epoch\'s')
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise InputError(f'{path}: corrupt checkpoint ({e})') from None
    if bad is not None:
        raise InputError(f'{path}: corrupt checkpoint (bad CRC in {bad})')
    refuse_unsafe_globals(path)


def refuse_unsafe_globals(path: str) -> None:
    """Refuse, without unpickling anything, a checkpoint whose pickle names
    objects outside torch's safe-load allow-list (torch's defaults plus
    :func:`~field_detr.checkpoint.compat.safe_checkpoint_globals`): such a
    file could run code when loaded (e.g. ``posix.system``)."""
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as e:  # noqa: BLE001 - an unreadable pickle
        raise InputError(
            f'{path}: not a readable checkpoint '
            f'({type(e).__name__}: {e}); it was not loaded') from None
    if unsafe:
        raise InputError(
            f'{path}: refused, it was not loaded: its pickle calls objects '
            f'a checkpoint never holds ({", ".join(sorted(unsafe))}) and '
            'could run code; use a checkpoint written by MMEngine/field_detr')


def is_intact(path: str) -> bool:
    """Whether :func:`verify_checkpoint_file` accepts ``path``."""
    try:
        verify_checkpoint_file(path)
    except InputError:
        return False
    return True


def load_checkpoint_file(path: str) -> dict:
    """``torch.load`` a verified checkpoint with the safe loader (the
    package's import allow-lists MMEngine's checkpoint types)."""
    verify_checkpoint_file(path)
    return torch.load(path, map_location='cpu', weights_only=True)


def revise_keys(
    state_dict: Dict[str, torch.Tensor],
    revise: Sequence[Tuple[str, str]] = tuple(MMENGINE_REVISE_KEYS)
) -> Dict[str, torch.Tensor]:
    """The keys of ``state_dict`` rewritten by ``(pattern, replacement)``
    pairs in turn, as MMEngine's ``load_checkpoint(revise_keys=...)`` does;
    by default without the ``module.`` prefix of a wrapped model."""
    for pattern, replacement in revise:
        state_dict = {
            re.sub(pattern, replacement, k): v
            for k, v in state_dict.items()
        }
    return state_dict
