"""The process group of a run under torchrun / Slurm where MMEngine's own
set-up needs a GPU, and its orderly end."""
import os

import torch
from mmengine.config import Config


def init_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Start the process group for a CPU run under torchrun.

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` first, which
    fails without a GPU; a process group that already exists is used as is.
    """
    import torch.distributed as dist
    if (launcher == 'pytorch' and not torch.cuda.is_available()
            and not dist.is_initialized()):
        backend = cfg.get('env_cfg', {}).get('dist_cfg',
                                             {}).get('backend', 'gloo')
        dist.init_process_group(backend=backend)


def finish_distributed() -> None:
    """Wait for every rank, then close the process group.

    Left open, the group is torn down by the interpreter's exit: a rank that
    is done while another still writes its last checkpoint or MLflow run can
    abort in the backend's teardown ("terminate called without an active
    exception"), and torchrun then stops the others and reports failure.
    Call it only after a run that succeeded on every rank: a rank that
    failed never reaches the barrier.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def world_size_from_env() -> int:
    return int(os.environ.get('WORLD_SIZE', '1'))
