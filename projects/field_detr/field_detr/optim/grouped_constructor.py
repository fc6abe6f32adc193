"""MMEngine's paramwise optimiser settings in a handful of groups.

``DefaultOptimWrapperConstructor`` with ``paramwise_cfg`` gives every
parameter a group of its own (about 235 for DETR R-50), which makes
PyTorch's foreach and fused optimisers fall back to many small launches.
``GroupedOptimWrapperConstructor`` asks the stock constructor for the
per-parameter settings (lr, weight decay, ...: its rules, unchanged) and
merges the parameters whose settings are identical, in model order.
"""
from typing import List

from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

# optimisers whose constructors take foreach= and fused=
_FUSABLE = ('Adam', 'AdamW', 'SGD', 'Adagrad')


def merge_param_groups(groups: List[dict]) -> List[dict]:
    """Param groups with identical settings merged into one, in the order
    of their first parameter."""
    merged = {}
    for group in groups:
        settings = {k: v for k, v in group.items() if k != 'params'}
        key = tuple(sorted((k, repr(v)) for k, v in settings.items()))
        if key not in merged:
            merged[key] = dict(settings, params=[])
        merged[key]['params'].extend(group['params'])
    return list(merged.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class GroupedOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` whose parameter groups are merged
    by identical settings, so each parameter keeps the learning rate and
    weight decay the stock rules give it.

    Unless the optimiser config says otherwise, Adam/AdamW/SGD/Adagrad get
    ``fused=True`` when the model's parameters are on CUDA and
    ``foreach=True`` elsewhere.
    """

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
        return super().__call__(model)

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', **kwargs) -> None:
        if prefix:  # the stock recursion into children
            return super().add_params(params, module, prefix, **kwargs)
        per_param: List[dict] = []
        super().add_params(per_param, module, prefix, **kwargs)
        params.extend(merge_param_groups(per_param))


