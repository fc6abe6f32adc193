from .checkpoint_layout_hook import CheckpointLayoutHook
from .coco_transplant_hook import CocoTransplantHook
from .rng_state_hook import RNGStateHook

__all__ = ['CheckpointLayoutHook', 'CocoTransplantHook', 'RNGStateHook']
