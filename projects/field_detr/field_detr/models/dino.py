"""MMDetection's DINO with its decoder's self-attention through PyTorch's
fused scaled-dot-product attention, as ``FieldDETR``'s (``detr.py``).

DINO's encoder attends with mmcv's deformable attention; the decoder's
self-attention (queries and denoising queries, under the denoising mask)
is mmcv's ``MultiheadAttention`` over ``nn.MultiheadAttention``, called
with ``need_weights=True``: PyTorch then computes it with explicit matmul
+ softmax to return weights DINO never reads. ``attention='sdpa'`` asks
for none, so PyTorch runs ``F.scaled_dot_product_attention``. Parameters,
their names and the computation are unchanged: checkpoints load both ways.
"""
from mmdet.models.detectors import DINO
from mmdet.registry import MODELS

from .detr import use_sdpa_attention


@MODELS.register_module()
class FieldDINO(DINO):
    """``DINO`` (same arguments) with ``attention``: ``'sdpa'`` (default)
    or ``'stock'`` (mmcv's call)."""

    def __init__(self, *args, attention: str = 'sdpa', **kwargs) -> None:
        if attention not in ('sdpa', 'stock'):
            raise ValueError(f"attention must be 'sdpa' or 'stock', "
                             f'not {attention!r}')
        super().__init__(*args, **kwargs)
        self.attention = attention
        if attention == 'sdpa':
            use_sdpa_attention(self.decoder)
