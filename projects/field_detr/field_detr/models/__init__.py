from .ball_head import BallHeatmapHead
from .data_preprocessor import FieldDetDataPreprocessor, choose_canvas
from .detr import FieldDETR, SDPAMultiheadAttention, use_sdpa_attention
from .dino import FieldDINO
from .fast_detr_head import FastDETRHead
from .fast_dino_head import FastDINOHead

__all__ = [
    'BallHeatmapHead', 'FieldDetDataPreprocessor', 'choose_canvas',
    'FastDETRHead', 'FastDINOHead', 'FieldDETR', 'FieldDINO',
    'SDPAMultiheadAttention', 'use_sdpa_attention'
]
