"""Stop cleanly on a non-finite loss."""
import math
import os.path as osp
from typing import Optional

import torch
from mmdet.engine.hooks import CheckInvalidLossHook
from mmdet.registry import HOOKS

from ..checkpoint.layout import CHECKPOINT_DIR, LATEST
from ..errors import TrainingStopped


@HOOKS.register_module()
class FiniteLossHook(CheckInvalidLossHook):
    """mmdet's ``CheckInvalidLossHook``, checking every iteration by default
    and stopping with a message instead of an assertion.

    A NaN or infinite loss raises :class:`TrainingStopped` naming the
    iteration and the last good checkpoint. It fires in ``after_train_iter``,
    before the epoch's checkpoints are written, so ``latest_checkpoint.pth``
    keeps the last good state and is never replaced by poisoned weights.

    Args:
        interval (int): check every ``interval`` iterations. Defaults to 1.
    """

    priority = 'VERY_HIGH'  # before any hook that could save the state

    def __init__(self, interval: int = 1) -> None:
        super().__init__(interval=interval)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or 'loss' not in outputs:
            return
        if not self.every_n_train_iters(runner, self.interval):
            return
        loss = outputs['loss']
        value = float(loss.detach()) if torch.is_tensor(loss) else float(loss)
        if math.isfinite(value):
            return
        latest = osp.join(runner.work_dir, CHECKPOINT_DIR, LATEST)
        last_good = (f'the last good checkpoint is {latest}' if
                     osp.isfile(latest) else 'no checkpoint was written yet')
        raise TrainingStopped(
            f'non-finite loss ({value}) at iteration {runner.iter + 1} '
            f'(epoch {runner.epoch + 1}); training stopped and {last_good}. '
            'Lower optim_wrapper.optimizer.lr, keep gradient clipping on, '
            'or check the data; then --resume')
