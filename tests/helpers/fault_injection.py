"""Faults injected into real training runs by the tests."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class NaNLossFromEpochHook(Hook):
    """From epoch ``epoch`` on, weight the box loss by NaN: the real model's
    loss turns non-finite, as after a divergence."""

    def __init__(self, epoch: int = 2) -> None:
        self.epoch = epoch

    def before_train_epoch(self, runner) -> None:
        if runner.epoch + 1 >= self.epoch:
            model = getattr(runner.model, 'module', runner.model)
            model.bbox_head.loss_bbox.loss_weight = float('nan')
