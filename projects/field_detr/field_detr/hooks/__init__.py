from .checkpoint_layout_hook import CheckpointLayoutHook
from .coco_transplant_hook import CocoTransplantHook
from .finite_loss_hook import FiniteLossHook
from .memory_hook import MemoryHook
from .mlflow_hook import MLflowRunHook
from .rng_state_hook import RNGStateHook

__all__ = [
    'CheckpointLayoutHook', 'CocoTransplantHook', 'FiniteLossHook',
    'MemoryHook', 'MLflowRunHook', 'RNGStateHook'
]
