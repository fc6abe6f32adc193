"""The learning rate a user set, logged under ``lr``."""
from typing import Optional

from mmdet.registry import HOOKS
from mmengine.hooks import RuntimeInfoHook


def _group_of(optimizer, module) -> Optional[int]:
    """Index of the param group holding ``module``'s first trainable
    parameter (None when it has none in ``optimizer``)."""
    first = next((p for p in module.parameters() if p.requires_grad), None)
    if first is None:
        return None
    for i, group in enumerate(optimizer.param_groups):
        if any(p is first for p in group['params']):
            return i
    return None


@HOOKS.register_module()
class FieldRuntimeInfoHook(RuntimeInfoHook):
    """MMEngine's ``RuntimeInfoHook`` logs ``lr`` of the optimiser's first
    param group: with the configs' ``paramwise_cfg`` that is the
    backbone's (``lr_mult=0.1``, 1e-5 where the config says 1e-4). This
    hook logs ``lr`` of the group that holds the transformer (the
    config's ``optimizer.lr``, as scheduled) and the backbone's as
    ``backbone_lr``, in the log, TensorBoard and MLflow
    (``learning_rate``, ``learning_rate_backbone``).

    Models without a ``backbone`` or ``bbox_head``, and optimiser
    dictionaries, log as MMEngine does.
    """

    #: (transformer's group, backbone's group or None), found before training
    _groups = None

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._groups = None
        optimizer = getattr(runner.optim_wrapper, 'optimizer', None)
        model = getattr(runner.model, 'module', runner.model)
        head = getattr(model, 'bbox_head', None)
        backbone = getattr(model, 'backbone', None)
        if optimizer is None or head is None:
            return
        base = _group_of(optimizer, head)
        if base is not None:
            self._groups = (base, _group_of(optimizer, backbone)
                            if backbone is not None else None)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        super().before_train_iter(runner, batch_idx, data_batch)
        if self._groups is None:
            return
        base, backbone = self._groups
        lrs = runner.optim_wrapper.get_lr()['lr']
        runner.message_hub.update_scalar('train/lr', lrs[base])
        if backbone is not None and backbone != base:
            runner.message_hub.update_scalar('train/backbone_lr',
                                             lrs[backbone])
