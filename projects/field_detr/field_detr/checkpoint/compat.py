"""Let ``torch.load(weights_only=True)`` read MMEngine checkpoints.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
any pickled global it does not know. MMEngine 0.10 calls ``torch.load``
without that argument for resume, ``load_from`` and ``load_checkpoint``, and
its checkpoints hold a few non-tensor objects: the message hub's
``HistoryBuffer`` and numpy arrays and scalars (log history, RNG state).

Rather than switching the safe loader off, :func:`allow_mmengine_checkpoints`
adds exactly those types to torch's allow-list. Any other pickled object in a
file still makes ``torch.load`` refuse it.

One more thing stands in the way: ``HistoryBuffer.__getstate__`` pickles the
class's registry of statistics methods, which pickle stores as
``getattr(HistoryBuffer, 'mean')``. Allowing ``getattr`` would let a crafted
file reach any attribute of any object, so instead buffers are pickled
without that registry: it is class-level state, rebuilt when the class (or a
module registering a custom statistic) is imported, and ``__setstate__``
already treats it as optional.
"""
import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _numpy_globals() -> list:
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    dtype_classes = [
        getattr(np.dtypes, name) for name in dir(np.dtypes)
        if name.endswith('DType')
    ]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype
            ] + dtype_classes


def safe_checkpoint_globals() -> list:
    """The types MMEngine checkpoints contain beyond torch's defaults."""
    return [HistoryBuffer] + _numpy_globals()


def _history_buffer_state(self) -> dict:
    state = self.__dict__.copy()
    state.pop('statistics_methods', None)
    return state


def allow_mmengine_checkpoints() -> None:
    """Add :func:`safe_checkpoint_globals` to torch's safe-load allow-list
    and pickle ``HistoryBuffer`` without its method registry."""
    HistoryBuffer.__getstate__ = _history_buffer_state
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 loads everything anyway
        add(safe_checkpoint_globals())
