"""RAM and GPU memory in the training log, and periodic clean-up."""
import gc
import os
import resource

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def process_rss_mb() -> float:
    """Resident memory of this process in MB (peak RSS where /proc is not
    available)."""
    try:
        with open('/proc/self/statm') as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf('SC_PAGE_SIZE') / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@HOOKS.register_module()
class MemoryHook(Hook):
    """Log ``memory_ram_mb`` (process RSS) and, on CUDA, ``memory_gpu_mb``
    (the peak allocated since MMEngine's log processor last reset it, i.e.
    over the logging interval) with the training scalars; every
    ``cleanup_interval`` iterations run ``gc.collect()``.

    Nothing here waits for the GPU: reading the allocator's counters is a
    host-side call. ``torch.cuda.empty_cache()`` hands cached blocks back to
    the driver and makes the next iterations allocate them again, so it is
    off unless ``empty_cuda_cache=True``.

    Args:
        cleanup_interval (int): iterations between clean-ups; 0 disables
            them. Defaults to 50.
        empty_cuda_cache (bool): also empty the CUDA cache at each clean-up
            (for other processes sharing the GPU). Defaults to False.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL) reads the hub

    def __init__(self, cleanup_interval: int = 50,
                 empty_cuda_cache: bool = False) -> None:
        self.cleanup_interval = cleanup_interval
        self.empty_cuda_cache = empty_cuda_cache

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        hub = runner.message_hub
        hub.update_scalar('train/memory_ram_mb', process_rss_mb())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            hub.update_scalar('train/memory_gpu_mb',
                              torch.cuda.max_memory_allocated() / 2**20)
        if (self.cleanup_interval
                and (runner.iter + 1) % self.cleanup_interval == 0):
            gc.collect()
            if self.empty_cuda_cache and torch.cuda.is_available():
                torch.cuda.empty_cache()
