"""Keep the random streams of a resumed run equal to an uninterrupted one."""
import random
from typing import Optional

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook


def get_rng_state() -> dict:
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        cuda = state['cuda']
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the Python, numpy and torch RNG states with each checkpoint.

    MMEngine re-seeds a run from ``randomness.seed`` at start, so a resumed
    run draws different dropout masks and augmentations than the run it
    continues. This hook snapshots the random state at the end of every
    training epoch, stores the snapshot in checkpoints saved after it
    (``checkpoint['rng_state']``) and restores it at the start of the next
    training epoch: after a resume that is the checkpoint's state, and in an
    uninterrupted run the same state, so the validation that ran in between
    leaves no trace on training randomness either. A checkpoint written
    within an epoch (a preemption's, after an iteration) stores the state of
    that moment instead: the resumed run draws from it for the epoch's next
    batch (:class:`~field_detr.runtime.ResumableEpochBasedTrainLoop`).

    With ``num_workers > 0`` and ``persistent_workers=True`` the augmentation
    randomness lives in the worker processes and is not covered; use
    ``num_workers=0`` or non-persistent workers for bit-identical resumes.

    The hook has no arguments; its priority runs it before
    ``CheckpointHook`` so each checkpoint carries the state of its epoch.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self) -> None:
        self._snapshot: Optional[dict] = None
        self._within_epoch = False

    def after_train_epoch(self, runner) -> None:
        self._snapshot = get_rng_state()
        self._within_epoch = False

    def before_train_epoch(self, runner) -> None:
        if self._snapshot is not None:
            set_rng_state(self._snapshot)
        self._within_epoch = True

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._within_epoch:
            checkpoint['rng_state'] = get_rng_state()
        elif self._snapshot is not None:
            checkpoint['rng_state'] = self._snapshot

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._snapshot = checkpoint.get('rng_state')
