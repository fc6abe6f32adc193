from .ball_head import BallHeatmapHead
from .detr import FieldDETR, SDPAMultiheadAttention, use_sdpa_attention
from .fast_detr_head import FastDETRHead
from .fast_dino_head import FastDINOHead

__all__ = [
    'BallHeatmapHead', 'FastDETRHead', 'FastDINOHead', 'FieldDETR',
    'SDPAMultiheadAttention', 'use_sdpa_attention'
]
