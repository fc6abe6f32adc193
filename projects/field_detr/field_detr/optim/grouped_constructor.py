"""MMEngine's paramwise optimiser settings in a handful of groups.

``DefaultOptimWrapperConstructor`` with ``paramwise_cfg`` gives every
parameter a group of its own (about 235 for DETR R-50), which makes
PyTorch's foreach and fused optimisers fall back to many small launches.
``GroupedOptimWrapperConstructor`` asks the stock constructor for the
per-parameter settings (lr, weight decay, ...: its rules, unchanged) and
merges the parameters whose settings are identical, in model order.

It also tells a ``FieldOptimWrapper`` (or ``Bf16AwareAmpOptimWrapper``)
which parameters its ``clip_separately`` keys name.
"""
import logging
from typing import List

from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from ..errors import ConfigError
from .wrapper import FieldClipMixin

# optimisers whose constructors take foreach= and fused=
_FUSABLE = ('Adam', 'AdamW', 'SGD', 'Adagrad')


def merge_param_groups(groups: List[dict]) -> List[dict]:
    """Param groups with identical settings merged into one, in the order
    of their first parameter."""
    merged = {}
    for group in groups:
        key = _settings_key(group)
        if key not in merged:
            merged[key] = {k: v for k, v in group.items() if k != 'params'}
            merged[key]['params'] = []
        merged[key]['params'].extend(group['params'])
    return list(merged.values())


def _settings_key(group: dict) -> tuple:
    return tuple(
        sorted((k, repr(v)) for k, v in group.items() if k != 'params'))


def merge_saved_param_groups(optimizer, state_dict: dict) -> dict:
    """``load_state_dict`` pre-hook: an optimiser state saved with one group
    per parameter (MMEngine's stock constructor, checkpoints written before
    the groups were merged) merged the same way, so it loads into the
    merged optimiser. The constructor visits parameters in the same order,
    so merging the saved groups by identical settings reproduces the new
    groups' parameter order. The implementation flags (``foreach``,
    ``fused``) stay the new optimiser's."""
    saved = state_dict['param_groups']
    if len(saved) == len(optimizer.param_groups):
        return state_dict
    merged = merge_param_groups(saved)
    if [len(g['params']) for g in merged
        ] != [len(g['params']) for g in optimizer.param_groups]:
        return state_dict  # not our layout: let torch report the mismatch
    for group, current in zip(merged, optimizer.param_groups):
        for flag in ('foreach', 'fused'):
            if flag in current:
                group[flag] = current[flag]
    return dict(state_dict, param_groups=merged)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class GroupedOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` whose parameter groups are merged
    by identical settings, so each parameter keeps the learning rate and
    weight decay the stock rules give it.

    Unless the optimiser config says otherwise, Adam/AdamW/SGD/Adagrad get
    ``fused=True`` when the model's parameters are on CUDA and
    ``foreach=True`` elsewhere. An optimiser state saved with one group
    per parameter (a checkpoint of the stock constructor) still loads: see
    :func:`merge_saved_param_groups`.

    The wrapper's ``clip_separately`` keys (``optim/wrapper.py``) are
    matched to the model's parameter names here, where the model is seen.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None) -> None:
        if 'clip_separately' in (paramwise_cfg or {}):
            raise ConfigError(
                'optim_wrapper.paramwise_cfg.clip_separately is now an '
                'argument of the wrapper: optim_wrapper.clip_separately')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def __call__(self, model: nn.Module):
        optimizer_type = self.optimizer_cfg.get('type')
        if isinstance(optimizer_type, str) and \
                optimizer_type.split('.')[-1] in _FUSABLE and \
                'fused' not in self.optimizer_cfg and \
                'foreach' not in self.optimizer_cfg:
            param = next(model.parameters(), None)
            on_cuda = param is not None and param.is_cuda
            self.optimizer_cfg = dict(self.optimizer_cfg)
            self.optimizer_cfg['fused' if on_cuda else 'foreach'] = True
        optim_wrapper = super().__call__(model)
        optim_wrapper.optimizer.register_load_state_dict_pre_hook(
            merge_saved_param_groups)
        if isinstance(optim_wrapper, FieldClipMixin):
            parts = optim_wrapper.name_parameters(model)
            if parts and optim_wrapper.grad_name == 'grad_norm':
                MMLogger.get_current_instance().info(
                    'gradients clipped on their own norm: ' + ', '.join(parts))
        return optim_wrapper

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   **kwargs) -> None:
        if prefix:  # the stock recursion into children
            return super().add_params(params, module, prefix, **kwargs)
        per_param: List[dict] = []
        # the stock rules log one line per parameter and setting (168 for
        # DETR R-50) and a warning per frozen parameter (BatchNorm, stem):
        # one summary line per merged group, and a count, say the same
        logger = MMLogger.get_current_instance()
        quiet = _DropParamwiseLines()
        logger.addFilter(quiet)
        try:
            super().add_params(per_param, module, prefix, **kwargs)
        finally:
            logger.removeFilter(quiet)
        merged = merge_param_groups(per_param)
        params.extend(merged)
        if quiet.frozen:
            logger.info(f'{quiet.frozen} frozen tensors (requires_grad='
                        'False) are not optimised')
        for group in merged:
            settings = ', '.join(
                f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}'
                for k, v in sorted(group.items()) if k != 'params')
            logger.info(f'parameter group: {len(group["params"])} tensors' + (
                f', {settings}' if settings else ', optimizer defaults'))


class _DropParamwiseLines(logging.Filter):
    """Drops the stock constructor's per-parameter lines; counts the
    frozen ones."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        if msg.endswith('is skipped since its requires_grad=False'):
            self.frozen += 1
            return False
        return not msg.startswith('paramwise_options -- ')
