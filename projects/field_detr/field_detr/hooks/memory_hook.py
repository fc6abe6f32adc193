"""RAM and GPU memory in the training log, and periodic clean-up."""
import gc
import os
import resource

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook


def process_rss_mb(pid='self') -> float:
    """Resident memory in MB of this process (peak RSS where /proc is not
    available), or of process ``pid`` (0 once it has exited)."""
    try:
        with open(f'/proc/{pid}/statm') as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf('SC_PAGE_SIZE') / 2**20
    except (OSError, ValueError, IndexError):
        if pid != 'self':
            return 0.0
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@HOOKS.register_module()
class MemoryHook(Hook):
    """Log ``memory_ram_mb`` (process RSS) with the training scalars and
    every ``cleanup_interval`` iterations run ``gc.collect()``.

    GPU memory is MMEngine's: on CUDA its ``LogProcessor`` logs ``memory``,
    the peak allocated since its last log line, and resets the peak; the
    visualisation backends log it as ``memory_gpu_mb``. This hook reads and
    resets nothing on the GPU.

    ``torch.cuda.empty_cache()`` hands cached blocks back to the driver and
    makes the next iterations allocate them again, so it is off unless
    ``empty_cuda_cache=True``.

    Args:
        cleanup_interval (int): iterations between clean-ups; 0 disables
            them. Defaults to 50.
        empty_cuda_cache (bool): also empty the CUDA cache at each clean-up
            (for other processes sharing the GPU). Defaults to False.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL) reads the hub

    def __init__(self,
                 cleanup_interval: int = 50,
                 empty_cuda_cache: bool = False) -> None:
        self.cleanup_interval = cleanup_interval
        self.empty_cuda_cache = empty_cuda_cache

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        runner.message_hub.update_scalar('train/memory_ram_mb',
                                         process_rss_mb())
        # every_n_train_iters is False for an interval of 0
        if self.every_n_train_iters(runner, self.cleanup_interval):
            gc.collect()
            if self.empty_cuda_cache and torch.cuda.is_available():
                torch.cuda.empty_cache()
