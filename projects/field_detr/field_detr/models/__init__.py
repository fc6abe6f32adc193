from .ball_head import BallHeatmapHead
from .detr import FieldDETR, SDPAMultiheadAttention, use_sdpa_attention
from .fast_detr_head import FastDETRHead

__all__ = [
    'BallHeatmapHead', 'FastDETRHead', 'FieldDETR', 'SDPAMultiheadAttention',
    'use_sdpa_attention'
]
