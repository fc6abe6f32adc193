"""The checkpoint layout of a run's ``<work_dir>/checkpoints/``: file names,
the temporary names writes go through, and the space a run will take."""
import os
import os.path as osp
import re

LIGHTWEIGHT = 'checkpoint_epoch_{}_lightweight.pth'
FULL = 'checkpoint_epoch_{}.pth'
BEST = 'best_model.pth'
LATEST = 'latest_checkpoint.pth'
CHECKPOINT_DIR = 'checkpoints'
#: message hub info key: bytes that hooks other than the checkpoint hook
#: will copy the run's checkpoints to (MLflow uploads), for the disk check
COPIES_BYTES = 'checkpoint_copies_bytes'

# the temporary names CheckpointLayoutHook writes under, and only those
TEMP_FILE = re.compile(r'^\.(checkpoint_epoch_\d+(_lightweight)?'
                       r'|latest_checkpoint|best_model)\.pth\.tmp$')


def temp_name(filename: str) -> str:
    """The temporary name ``filename`` is written under before its
    rename."""
    return f'.{filename}.tmp'


def remove_stale_temp_files(folder: str) -> list:
    """Delete the temporary files a killed checkpoint write left in
    ``folder`` (the layout's naming pattern only); return their names."""
    removed = sorted(
        name for name in os.listdir(folder) if TEMP_FILE.match(name))
    for name in removed:
        os.remove(osp.join(folder, name))
    return removed


def kept_files(max_epochs: int, full_interval: int, keep_lightweight: int,
               keeps_best: bool) -> dict:
    """How many files a run of ``max_epochs`` epochs keeps at its end:
    ``full`` (full checkpoints, ``latest_checkpoint.pth`` included) and
    ``weights`` (lightweight and best)."""
    full = sum(1 for e in range(1, max_epochs + 1)
               if e % full_interval == 0 or e == max_epochs)
    light = max_epochs if keep_lightweight < 0 else min(
        keep_lightweight, max_epochs)
    return dict(full=full + 1, weights=light + (1 if keeps_best else 0))


def checkpoint_bytes(model) -> dict:
    """Bytes of one checkpoint of ``model``: ``weights`` (its state dict)
    and ``full`` (plus AdamW's two moments of every trainable
    parameter)."""
    weights = sum(t.numel() * t.element_size()
                  for t in model.state_dict().values())
    full = weights + 2 * sum(p.numel() * 4
                             for p in model.parameters() if p.requires_grad)
    return dict(weights=weights, full=full)
