"""MMDetection's DETR with its attention through PyTorch's fused
scaled-dot-product attention, and optional channels-last backbone and
compiled submodules.

mmcv's ``MultiheadAttention`` calls ``nn.MultiheadAttention`` with its
default ``need_weights=True``, which makes PyTorch compute the attention
with explicit matmul + softmax and materialise the (averaged) weights that
DETR never reads. With ``need_weights=False`` the same module runs
``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on a
GPU). Parameters, their names and the computation are unchanged, so
checkpoints load both ways.
"""
from typing import Optional, Sequence, Tuple

import torch
from mmdet.models.detectors import DETR
from mmdet.registry import MODELS
from torch import Tensor, nn


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


def use_sdpa_attention(module: nn.Module) -> int:
    """Switch every plain ``nn.MultiheadAttention`` inside ``module`` to
    :class:`SDPAMultiheadAttention` (same parameters); returns how many."""
    count = 0
    for m in module.modules():
        if type(m) is nn.MultiheadAttention:
            m.__class__ = SDPAMultiheadAttention
            count += 1
    return count


@MODELS.register_module()
class FieldDETR(DETR):
    """MMDetection's ``DETR`` with three speed settings; the layers,
    parameter names and outputs are ``DETR``'s.

    Args:
        attention (str): ``'sdpa'`` (default) computes the transformer's
            attention with ``scaled_dot_product_attention``; ``'stock'``
            keeps mmcv's call, which also computes the attention weights.
        channels_last (bool): run the backbone in channels-last memory
            format. Defaults to False.
        compile_modules (Sequence[str]): submodules to ``torch.compile`` in
            place (their state dict is unchanged) the first time the model
            runs on a GPU, e.g. ``('backbone', 'encoder', 'decoder')``; never
            the head's loss, whose Hungarian matching runs on the host.
            Defaults to none.
        compile_options (dict): keyword arguments of ``torch.compile``.
            Defaults to ``dict(dynamic=True)``: one graph for every input
            size of the multi-scale pipeline.
        **kwargs: ``DETR``'s arguments.
    """

    def __init__(self,
                 *args,
                 attention: str = 'sdpa',
                 channels_last: bool = False,
                 compile_modules: Sequence[str] = (),
                 compile_options: Optional[dict] = None,
                 **kwargs) -> None:
        if attention not in ('sdpa', 'stock'):
            raise ValueError(f"attention must be 'sdpa' or 'stock', "
                             f'not {attention!r}')
        super().__init__(*args, **kwargs)
        self.attention = attention
        if attention == 'sdpa':
            use_sdpa_attention(self.encoder)
            use_sdpa_attention(self.decoder)
        self.channels_last = channels_last
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        for name in compile_modules:
            if not isinstance(getattr(self, name, None), nn.Module):
                raise ValueError(f'compile_modules: FieldDETR has no '
                                 f'submodule {name!r}')
        self.compile_modules = tuple(compile_modules)
        self.compile_options = dict(dynamic=True) if compile_options is None \
            else dict(compile_options)
        self._compiled = False

    def compile_submodules(self) -> None:
        """``torch.compile`` the modules named in ``compile_modules``, in
        place (``nn.Module.compile``: names and state dict unchanged)."""
        for name in self.compile_modules:
            getattr(self, name).compile(**self.compile_options)
        self._compiled = True

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        if self.compile_modules and not self._compiled \
                and batch_inputs.is_cuda:
            self.compile_submodules()
        if self.channels_last:
            batch_inputs = batch_inputs.contiguous(
                memory_format=torch.channels_last)
        return super().extract_feat(batch_inputs)
