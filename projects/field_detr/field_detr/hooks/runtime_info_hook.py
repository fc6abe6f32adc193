"""The learning rate a user set, logged under ``lr``; the losses and the
gradient norm read from the device once per logging interval."""
from typing import Optional

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import LoggerHook, RuntimeInfoHook


def read_at_once(values: list) -> list:
    """``values`` with every tensor among them (scalars, on any one device)
    read to a Python float in one device-to-host transfer; other values as
    they are."""
    tensors = [v for v in values if torch.is_tensor(v)]
    if not tensors:
        return list(values)
    read = iter(torch.stack([t.float().reshape(()) for t in tensors]).tolist())
    return [next(read) if torch.is_tensor(v) else v for v in values]


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

    MMEngine's hook reads every loss of every iteration from the device
    (``.item()`` per key) and the optimiser wrapper reads the clipped
    gradient norm (``float``): each read waits for the GPU, and the host
    cannot queue the next step meanwhile. With ``defer_scalars`` (the
    default) the losses, and the gradient norm of a wrapper with
    ``defer_grad_norm`` (``optim/wrapper.py``), stay on the device and are
    read in one transfer
    when the ``LoggerHook`` logs (every ``interval`` iterations, at the end
    of an epoch), before a checkpoint is saved and before validation; the
    message hub then receives the same values, in the same order, as
    MMEngine's hook gives it, so the logs are unchanged. Without a
    ``LoggerHook`` it reads every iteration.

    Args:
        defer_scalars (bool): read the losses and gradient norm at logging
            time. Defaults to True.
    """

    #: (transformer's group, backbone's group or None), found before training
    _groups = None

    def __init__(self, defer_scalars: bool = True) -> None:
        self.defer_scalars = defer_scalars
        self._interval = None  # the LoggerHook's, when deferring
        self._pending = []  # per iteration: {key: value}, not read yet
        self._wrapper_defers = False  # the wrapper keeps its norm for us
        self._grad_name = 'grad_norm'

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._pending, self._interval = [], None
        hooks = getattr(runner, 'hooks', None)
        loggers = [h for h in hooks if isinstance(h, LoggerHook)] \
            if isinstance(hooks, (list, tuple)) else []
        if self.defer_scalars and loggers:
            self._interval = loggers[0].interval
        wrapper = runner.optim_wrapper
        self._wrapper_defers = getattr(wrapper, 'defer_grad_norm', False)
        self._grad_name = getattr(wrapper, 'grad_name', 'grad_norm')
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

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        norm = runner.optim_wrapper.pop_grad_norm() \
            if self._wrapper_defers else None
        if self._interval is None:
            if norm is not None:
                runner.message_hub.update_scalar(f'train/{self._grad_name}',
                                                 float(norm))
            return super().after_train_iter(runner, batch_idx, data_batch,
                                            outputs)
        entry = {}
        if norm is not None:
            entry[self._grad_name] = norm
        for key, value in (outputs or {}).items():
            entry[key] = value.detach() if torch.is_tensor(value) else value
        self._pending.append(entry)
        if (self.every_n_inner_iters(batch_idx, self._interval)
                or self.every_n_train_iters(runner, self._interval)
                or self.end_of_epoch(runner.train_dataloader, batch_idx)
                or self.is_last_train_iter(runner)):
            self.flush(runner)

    def flush(self, runner) -> None:
        """Read the values kept since the last read (one device transfer)
        into the message hub, iteration by iteration."""
        pending, self._pending = self._pending, []
        keys = [key for entry in pending for key in entry]
        values = read_at_once([v for entry in pending for v in entry.values()])
        for key, value in zip(keys, values):
            runner.message_hub.update_scalar(f'train/{key}', value)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.flush(runner)

    def before_val(self, runner) -> None:
        self.flush(runner)
        super().before_val(runner)

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)
