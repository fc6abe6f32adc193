"""Stop cleanly on a non-finite loss."""
import math
import os.path as osp
from typing import Optional

import torch
from mmdet.engine.hooks import CheckInvalidLossHook
from mmdet.registry import HOOKS

from ..checkpoint.layout import CHECKPOINT_DIR, LATEST
from ..errors import TrainingStopped
from .runtime_info_hook import read_at_once


@HOOKS.register_module()
class FiniteLossHook(CheckInvalidLossHook):
    """mmdet's ``CheckInvalidLossHook``, checking every iteration by default
    and stopping with a message instead of an assertion.

    A NaN or infinite loss raises :class:`TrainingStopped` naming the
    iteration and the last good checkpoint. It fires in ``after_train_iter``,
    before the epoch's checkpoints are written, so ``latest_checkpoint.pth``
    keeps the last good state and is never replaced by poisoned weights.

    Between checks, each iteration's loss stays on the device (no read that
    would wait for the GPU); a check reads them all at once and names the
    first non-finite one. Checks run every ``interval`` iterations, at the
    end of each epoch and before any checkpoint is saved, so no checkpoint
    ever holds weights trained on a non-finite loss.

    Args:
        interval (int): check every ``interval`` iterations. Defaults to 1.
    """

    priority = 'VERY_HIGH'  # before any hook that could save the state

    def __init__(self, interval: int = 1) -> None:
        super().__init__(interval=interval)
        self._losses = []  # (iteration, epoch, loss) not checked yet

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if outputs and 'loss' in outputs:
            loss = outputs['loss']
            self._losses.append(
                (runner.iter + 1, runner.epoch + 1,
                 loss.detach() if torch.is_tensor(loss) else loss))
        if (self.every_n_train_iters(runner, self.interval)
                or self.end_of_epoch(runner.train_dataloader, batch_idx)
                or self.is_last_train_iter(runner)):
            self.check(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.check(runner)

    def check(self, runner) -> None:
        """Raise :class:`TrainingStopped` at the first non-finite loss kept
        since the last check."""
        losses, self._losses = self._losses, []
        values = read_at_once([v for _, _, v in losses])
        for (iteration, epoch, _), value in zip(losses, values):
            if not math.isfinite(value):
                self.stop(runner, iteration, epoch, value)

    @staticmethod
    def stop(runner, iteration: int, epoch: int, value: float) -> None:
        latest = osp.join(runner.work_dir, CHECKPOINT_DIR, LATEST)
        last_good = (f'the last good checkpoint is {latest}' if
                     osp.isfile(latest) else 'no checkpoint was written yet')
        raise TrainingStopped(
            f'non-finite loss ({value}) at iteration {iteration} '
            f'(epoch {epoch}); training stopped and {last_good}. '
            'Lower optim_wrapper.optimizer.lr, keep gradient clipping on, '
            'or check the data; then --resume')
