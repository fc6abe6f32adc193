"""MMEngine's ``AmpOptimWrapper`` without loss scaling under bfloat16, with
the field wrapper's clip arguments.

Loss scaling exists for float16's narrow exponent range; bfloat16 has
float32's range, and PyTorch's documentation uses no ``GradScaler`` with
it. ``AmpOptimWrapper`` scales either way, which costs an inf/NaN check of
every gradient and a device read each step.
"""
import torch
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from .wrapper import FieldClipMixin

# the optimiser wrappers that train in mixed precision
AMP_WRAPPERS = ('AmpOptimWrapper', 'Bf16AwareAmpOptimWrapper')


@OPTIM_WRAPPERS.register_module()
class Bf16AwareAmpOptimWrapper(FieldClipMixin, AmpOptimWrapper):
    """``AmpOptimWrapper`` (same arguments, and ``FieldOptimWrapper``'s
    ``clip_separately`` and ``defer_grad_norm``) that skips its
    ``GradScaler`` when ``dtype='bfloat16'``; float16 is scaled as before.
    The scaler's state is still saved and loaded, so checkpoints move
    between the two wrappers."""

    @property
    def scales_loss(self) -> bool:
        return self.cast_dtype is not torch.bfloat16

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.scales_loss:
            return super().backward(loss, **kwargs)
        return OptimWrapper.backward(self, loss, **kwargs)

    def step(self, **kwargs) -> None:
        if self.scales_loss:
            return super().step(**kwargs)
        return OptimWrapper.step(self, **kwargs)
