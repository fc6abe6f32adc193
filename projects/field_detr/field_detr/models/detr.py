"""MMDetection's DETR with its attention through PyTorch's fused
scaled-dot-product attention and an optional ball head on the same
backbone.

mmcv's ``MultiheadAttention`` calls ``nn.MultiheadAttention`` with its
default ``need_weights=True``, which makes PyTorch compute the attention
with explicit matmul + softmax and materialise the (averaged) weights that
DETR never reads. With ``need_weights=False`` the same module runs
``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on a
GPU). Parameters, their names and the computation are unchanged, so
checkpoints load both ways.
"""
from typing import Optional, Tuple

from mmdet.models.detectors import DETR
from mmdet.registry import MODELS
from torch import Tensor, nn

from .ball_detector import BallHeadMixin
from .gpu_speed import GPUSpeedMixin


class SDPAMultiheadAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` that never returns attention weights, so
    PyTorch computes it with ``scaled_dot_product_attention``. It returns
    ``(output, None)``; the parameters are ``nn.MultiheadAttention``'s."""

    def forward(self,
                query: Tensor,
                key: Tensor,
                value: Tensor,
                key_padding_mask: Optional[Tensor] = None,
                need_weights: bool = False,
                attn_mask: Optional[Tensor] = None,
                average_attn_weights: bool = True,
                is_causal: bool = False) -> Tuple[Tensor, None]:
        return super().forward(
            query,
            key,
            value,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            attn_mask=attn_mask,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal)


def switch_modules(module: nn.Module, stock: type, ours: type) -> int:
    """Switch every module of exactly class ``stock`` inside ``module`` to
    ``ours``, a subclass that computes the same with the same parameters;
    returns how many."""
    count = 0
    for m in module.modules():
        if type(m) is stock:
            m.__class__ = ours
            count += 1
    return count


def use_sdpa_attention(module: nn.Module) -> int:
    """Switch every plain ``nn.MultiheadAttention`` inside ``module`` to
    :class:`SDPAMultiheadAttention` (same parameters); returns how many."""
    return switch_modules(module, nn.MultiheadAttention,
                          SDPAMultiheadAttention)


@MODELS.register_module()
class FieldDETR(GPUSpeedMixin, BallHeadMixin, DETR):
    """MMDetection's ``DETR`` with its attention through
    ``scaled_dot_product_attention`` and an optional ball head
    (``ball_detector.py``); without the head, the layers, parameter names
    and outputs are ``DETR``'s. The GPU-only speed switches are one
    argument, ``gpu`` (``gpu_speed.py``).

    Args:
        attention (str): ``'sdpa'`` (default) computes the transformer's
            attention with ``scaled_dot_product_attention``; ``'stock'``
            keeps mmcv's call, which also computes the attention weights.
        ball_head (dict, optional): a ball head config. Defaults to None
            (MMDetection's DETR exactly).
        gpu (dict, optional): the GPU-only speed switches
            (:class:`~field_detr.models.gpu_speed.GPUSpeedMixin`); all off
            by default.
        **kwargs: ``DETR``'s arguments.
    """

    def __init__(self,
                 *args,
                 attention: str = 'sdpa',
                 ball_head: Optional[dict] = None,
                 **kwargs) -> None:
        if attention not in ('sdpa', 'stock'):
            raise ValueError(f"attention must be 'sdpa' or 'stock', "
                             f'not {attention!r}')
        super().__init__(*args, ball_head=ball_head, **kwargs)
        self.attention = attention
        if attention == 'sdpa':
            use_sdpa_attention(self.encoder)
            use_sdpa_attention(self.decoder)
