"""field_detr: an MMDetection plugin that trains DETR R-50 to detect players
and the ball in sports video.

Importing the package (configs do it through ``custom_imports``) registers
its classes with MMEngine's registries and lets ``torch.load`` read MMEngine
checkpoints under torch's safe loader.
"""
from .checkpoint_compat import allow_mmengine_checkpoints
from .data_validation import load_coco_split
from .dataset import FieldCocoDataset
from .errors import ConfigError, FieldDetrError, InputError, TrainingStopped
from .hooks import (CheckpointLayoutHook, CocoTransplantHook, MemoryHook,
                    MLflowRunHook, RNGStateHook)
from .inference import Detections, LocalDetector
from .metric import FieldCocoMetric
from .models import BallHeatmapHead, FastDETRHead, FieldDETR
from .optim import Bf16AwareAmpOptimWrapper, GroupedOptimWrapperConstructor
from .transforms import BallCentredCrop
from .visualization import FieldMLflowVisBackend, FieldTensorboardVisBackend

allow_mmengine_checkpoints()

__all__ = [
    'BallCentredCrop', 'BallHeatmapHead', 'Bf16AwareAmpOptimWrapper',
    'CheckpointLayoutHook', 'CocoTransplantHook', 'ConfigError', 'Detections',
    'FastDETRHead', 'FieldCocoDataset', 'FieldCocoMetric', 'FieldDETR',
    'FieldDetrError', 'FieldMLflowVisBackend', 'FieldTensorboardVisBackend',
    'GroupedOptimWrapperConstructor', 'InputError', 'LocalDetector',
    'MemoryHook', 'MLflowRunHook', 'RNGStateHook', 'TrainingStopped',
    'allow_mmengine_checkpoints', 'load_coco_split'
]
