"""Training hooks that are neither checkpoints (:mod:`field_detr.checkpoint`)
nor tracking (:mod:`field_detr.tracking`)."""
from .coco_transplant_hook import CocoTransplantHook
from .finite_loss_hook import FiniteLossHook
from .memory_hook import MemoryHook
from .rng_state_hook import RNGStateHook
from .runtime_info_hook import FieldRuntimeInfoHook

__all__ = [
    'CocoTransplantHook', 'FieldRuntimeInfoHook', 'FiniteLossHook',
    'MemoryHook', 'RNGStateHook'
]
