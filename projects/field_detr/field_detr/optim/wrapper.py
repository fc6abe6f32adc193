"""MMEngine's optimiser wrappers with two more ways to clip and log the
gradients, as arguments of the wrapper:

* ``clip_separately`` (name keys, matched by substring as
  ``paramwise_cfg.custom_keys`` are): the gradients of the parameters whose
  names hold one of them are clipped on their own norm, each part to the
  same ``max_norm``; a head trained beside the detector then leaves the
  detector's clipped steps as they are without it. The norm logged as
  ``grad_norm`` is the rest's (the detector's).
* ``defer_grad_norm``: the clipped norm stays on the device
  (``pop_grad_norm()``) instead of being read to a float every step, a wait
  for the GPU each time; ``FieldRuntimeInfoHook`` reads it with the losses
  once per logging interval.

``FieldOptimWrapper`` is MMEngine's ``OptimWrapper`` with them,
``Bf16AwareAmpOptimWrapper`` (``amp_wrapper.py``) its AMP counterpart.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper
from torch import nn


class FieldClipMixin:
    """``clip_separately`` and ``defer_grad_norm`` for an MMEngine
    optimiser wrapper (the arguments are keyword-only; the rest go to the
    wrapper)."""

    def __init__(self,
                 *args,
                 clip_separately: Sequence[str] = (),
                 defer_grad_norm: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clip_separately = tuple(clip_separately)
        self.defer_grad_norm = defer_grad_norm
        self._parts: Optional[List[set]] = None  # ids per separate part
        self._grad_norm: Optional[torch.Tensor] = None

    def name_parameters(self, model: nn.Module) -> Dict[str, int]:
        """Tell the wrapper which of ``model``'s parameters each
        ``clip_separately`` key names (``GroupedOptimWrapperConstructor``
        does); returns the number of tensors per key that has any."""
        parts = {
            key:
            {id(p)
             for name, p in model.named_parameters() if key in name}
            for key in self.clip_separately
        }
        self._parts = [ids for ids in parts.values() if ids]
        return {key: len(ids) for key, ids in parts.items() if ids}

    def pop_grad_norm(self) -> Optional[torch.Tensor]:
        """The last clipped norm not read yet (with ``defer_grad_norm``),
        None when there is none."""
        norm, self._grad_norm = self._grad_norm, None
        return norm

    def _clip_grad(self) -> None:
        params = [
            p for group in self.optimizer.param_groups for p in group['params']
            if p.requires_grad and p.grad is not None
        ]
        if not params:
            return
        rest, parts = self._split(params)
        for part in parts:
            self.clip_func(part, **self.clip_grad_kwargs)
        norm = self.clip_func(rest, **self.clip_grad_kwargs) if rest else None
        if norm is None:  # clip_grad_value_ returns nothing to log
            return
        if self.defer_grad_norm:
            self._grad_norm = norm.detach()
        else:
            self.message_hub.update_scalar(f'train/{self.grad_name}',
                                           float(norm))

    def _split(self, params: list) -> Tuple[list, List[list]]:
        """``params`` without the separate parts, and each part (clipping
        by value treats every gradient alone: nothing to split)."""
        if not self.clip_separately or self.grad_name != 'grad_norm':
            return params, []
        if self._parts is None:
            raise RuntimeError(
                'clip_separately needs the parameters\' names: build the '
                'optimiser with GroupedOptimWrapperConstructor')
        parts = [[p for p in params if id(p) in ids] for ids in self._parts]
        taken = set().union(*self._parts)
        return [p for p in params
                if id(p) not in taken], [part for part in parts if part]


@OPTIM_WRAPPERS.register_module()
class FieldOptimWrapper(FieldClipMixin, OptimWrapper):
    """MMEngine's ``OptimWrapper`` (same arguments) with
    ``clip_separately`` and ``defer_grad_norm`` (module docstring)."""
