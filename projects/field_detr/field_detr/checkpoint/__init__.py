"""Checkpoints, in one place:

* :mod:`.layout` — the file names of ``<work_dir>/checkpoints/`` and the
  space a run's checkpoints take;
* :mod:`.files` — atomic writes, verification before unpickling, the safe
  loader, key revision;
* :mod:`.compat` — MMEngine checkpoints under ``torch.load``'s safe loader;
* :mod:`.resume` — which checkpoint ``--resume`` continues from, and the
  files a run starts from, checked before anything is built;
* :mod:`.hook` — ``CheckpointLayoutHook``, MMEngine's ``CheckpointHook``
  writing the layout.
"""
from .compat import allow_mmengine_checkpoints
from .hook import CheckpointLayoutHook

__all__ = ['CheckpointLayoutHook', 'allow_mmengine_checkpoints']
