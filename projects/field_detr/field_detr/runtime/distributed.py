"""The process group of a run under torchrun / Slurm where MMEngine's own
set-up falls short (no GPU, a worker torchrun restarted), and its orderly
end."""
import logging
import os
import subprocess
import sys
from typing import Optional

import torch
from mmengine.config import Config


def init_distributed(cfg: Config, launcher: str) -> None:
    """Start the process group before MMEngine's Runner would, where its
    ``init_dist`` falls short; elsewhere (a first start on GPUs) leave it to
    MMEngine. A process group that already exists is used as is.

    * Without a GPU: MMEngine's ``init_dist`` calls ``torch.cuda.set_device``
      first and fails. Under Slurm the rank, world size and address come
      from Slurm's variables as MMEngine's ``slurm`` launcher takes them.
    * In workers torchrun restarted (``--max-restarts``): the workers share
      the agent's store, which keeps the first start's entries (its static
      rendezvous makes the store once), so a restarted worker can read a
      peer's address from the last start and wait for a process that is
      gone. Each start gets its own prefix in the store here.
    """
    import torch.distributed as dist
    if launcher not in ('pytorch', 'slurm') or dist.is_initialized():
        return
    cuda = torch.cuda.is_available()
    restarts = torchrun_restarts()
    if cuda and (launcher == 'slurm' or restarts == 0):
        return  # MMEngine's init_dist
    if launcher == 'slurm':
        _slurm_environment()
    backend = cfg.get('env_cfg', {}).get('dist_cfg',
                                         {}).get('backend',
                                                 'nccl' if cuda else 'gloo')
    if cuda:
        torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
    if restarts == 0:
        dist.init_process_group(backend=backend)
        return
    store, rank, world_size = next(dist.rendezvous('env://'))
    dist.init_process_group(
        backend=backend,
        store=dist.PrefixStore(f'field_detr/start_{restarts}', store),
        rank=rank,
        world_size=world_size)


def torchrun_restarts() -> int:
    """How many times torchrun has restarted this worker's group
    (``--max-restarts``); 0 at the first start and outside torchrun."""
    return int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') or 0)


def _slurm_environment() -> None:
    """torch's variables from Slurm's (MMEngine's ``_init_dist_slurm``
    without a GPU): the first host of the job is the master."""
    nodes = os.environ['SLURM_NODELIST']
    first = subprocess.run(['scontrol', 'show', 'hostnames', nodes],
                           capture_output=True,
                           text=True,
                           check=True).stdout.split()[0]
    os.environ.setdefault('MASTER_ADDR', first)
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def finish_distributed(exit_status: Optional[int] = None) -> None:
    """Wait for every rank, then close the process group; with
    ``exit_status``, then end the process with it at once.

    Left open, the group is torn down by the interpreter's exit: a rank that
    is done while another still writes its last checkpoint or MLflow run can
    abort in the backend's teardown ("terminate called without an active
    exception"), and torchrun then stops the others and reports failure.
    Closed, gloo's worker threads can still hold finished work whose
    tensors are freed during the interpreter's own teardown and abort it
    the same way (pytorch/pytorch#179291; seen in the two-process test
    under a loaded CPU): ``exit_status`` skips that teardown once the run's
    files, logs and tracking are closed (output flushed, logging shut
    down). Call it only after a run that ended on every rank: a rank that
    failed never reaches the barrier.
    """
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    dist.destroy_process_group()
    if exit_status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(exit_status)


def world_size_from_env() -> int:
    return int(os.environ.get('WORLD_SIZE', '1'))
