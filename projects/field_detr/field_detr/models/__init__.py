from .ball_head import BallHeatmapHead
from .data_preprocessor import FieldDetDataPreprocessor, choose_canvas
from .deformable_attention import (PerLevelDeformableAttention,
                                   deformable_attention_per_level,
                                   use_per_level_deformable_attention)
from .detr import FieldDETR, SDPAMultiheadAttention, use_sdpa_attention
from .dino import FieldDINO
from .fast_detr_head import FastDETRHead
from .fast_dino_head import FastDINOHead

__all__ = [
    'BallHeatmapHead', 'FieldDetDataPreprocessor', 'choose_canvas',
    'FastDETRHead', 'FastDINOHead', 'FieldDETR', 'FieldDINO',
    'PerLevelDeformableAttention', 'SDPAMultiheadAttention',
    'deformable_attention_per_level', 'use_per_level_deformable_attention',
    'use_sdpa_attention'
]
