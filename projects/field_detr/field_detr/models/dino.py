"""MMDetection's DINO with its decoder's self-attention through PyTorch's
fused scaled-dot-product attention, as ``FieldDETR``'s (``detr.py``), and
an optional ball head (``ball_detector.py``).

DINO's encoder attends with mmcv's deformable attention; the decoder's
self-attention (queries and denoising queries, under the denoising mask)
is mmcv's ``MultiheadAttention`` over ``nn.MultiheadAttention``, called
with ``need_weights=True``: PyTorch then computes it with explicit matmul
+ softmax to return weights DINO never reads. ``attention='sdpa'`` asks
for none, so PyTorch runs ``F.scaled_dot_product_attention``. On a CPU the
deformable attention (encoder and decoder) sums each level's samples as it
goes (``deformable='per_level'``, ``deformable_attention.py``), not through
mmcv's stacked product. Parameters, their names and the computation are
unchanged: checkpoints load both ways.
"""
from typing import Optional

from mmdet.models.detectors import DINO
from mmdet.registry import MODELS

from .ball_detector import BallHeadMixin
from .deformable_attention import use_per_level_deformable_attention
from .detr import use_sdpa_attention


@MODELS.register_module()
class FieldDINO(BallHeadMixin, DINO):
    """``DINO`` (same arguments) with ``attention``: ``'sdpa'`` (default)
    or ``'stock'`` (mmcv's call), ``deformable``: ``'per_level'``
    (default; the CPU path of ``PerLevelDeformableAttention``, mmcv's
    kernel on CUDA) or ``'stock'`` (mmcv's module), and ``ball_head`` (a
    :class:`BallHeatmapHead` config on the backbone's stride-4 and stride-8
    levels; the ball detections are then the head's). Without the head the
    layers, parameter names and outputs are ``DINO``'s."""

    def __init__(self,
                 *args,
                 attention: str = 'sdpa',
                 deformable: str = 'per_level',
                 ball_head: Optional[dict] = None,
                 **kwargs) -> None:
        if attention not in ('sdpa', 'stock'):
            raise ValueError(f"attention must be 'sdpa' or 'stock', "
                             f'not {attention!r}')
        if deformable not in ('per_level', 'stock'):
            raise ValueError(f"deformable must be 'per_level' or 'stock', "
                             f'not {deformable!r}')
        super().__init__(*args, ball_head=ball_head, **kwargs)
        self.attention = attention
        self.deformable = deformable
        if attention == 'sdpa':
            use_sdpa_attention(self.decoder)
        if deformable == 'per_level':
            use_per_level_deformable_attention(self)
