"""field_detr: an MMDetection plugin that trains DETR R-50 to detect players
and the ball in sports video.

Importing the package (configs do it through ``custom_imports``) registers
its classes with MMEngine's registries, lets ``torch.load`` read MMEngine
checkpoints under torch's safe loader and makes MMEngine format a config's
text once, not at every checkpoint (``runtime/config_text.py``).
"""
from .checkpoint import CheckpointLayoutHook, allow_mmengine_checkpoints
from .datasets import (BallCopyPaste, FieldCocoDataset, SyntheticBalls,
                       load_coco_split)
from .errors import (ConfigError, FieldDetrError, InputError, Preempted,
                     TrainingStopped)
from .evaluation import FieldCocoMetric
from .hooks import CocoTransplantHook, MemoryHook, RNGStateHook
from .inference import Detections, LocalDetector
from .models import BallHeatmapHead, FastDETRHead, FieldDETR
from .optim import Bf16AwareAmpOptimWrapper, GroupedOptimWrapperConstructor
from .runtime.config_text import memoise_config_text
from .runtime.preemption import PreemptionHook
from .runtime.train_loop import ResumableEpochBasedTrainLoop
from .tracking import (FieldMLflowVisBackend, FieldTensorboardVisBackend,
                       MLflowRunHook)

allow_mmengine_checkpoints()
memoise_config_text()

__all__ = [
    'BallCopyPaste', 'BallHeatmapHead', 'Bf16AwareAmpOptimWrapper',
    'CheckpointLayoutHook', 'CocoTransplantHook', 'ConfigError', 'Detections',
    'FastDETRHead', 'FieldCocoDataset', 'FieldCocoMetric', 'FieldDETR',
    'FieldDetrError', 'FieldMLflowVisBackend', 'FieldTensorboardVisBackend',
    'GroupedOptimWrapperConstructor', 'InputError', 'LocalDetector',
    'MemoryHook', 'MLflowRunHook', 'PreemptionHook', 'Preempted',
    'RNGStateHook', 'ResumableEpochBasedTrainLoop', 'SyntheticBalls',
    'TrainingStopped', 'allow_mmengine_checkpoints', 'load_coco_split'
]
