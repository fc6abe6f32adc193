"""The checkpoints a run starts from, checked before anything is built:
``--resume`` (the newest intact checkpoint of the work dir, or a path, and
the MLflow run it continues), ``load_from`` and the COCO start's file. A
work dir that already holds checkpoints is never trained over without
``--resume``."""
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

from ..checkpoint.files import verify_checkpoint_file
from ..checkpoint.resume import existing_checkpoints, resume_checkpoint
from ..errors import InputError
from ..hooks.coco_transplant_hook import coco_start_checkpoint
from ..tracking.runs import continue_mlflow_run
from .distributed import torchrun_restarts


def restarted_resume(resume: Optional[str]) -> Optional[str]:
    """``--resume``'s value for this process: ``'auto'`` in a worker that
    torchrun restarted (``--max-restarts``; ``TORCHELASTIC_RESTART_COUNT``
    > 0) and was given none, so it continues from the newest checkpoint its
    first start wrote; else ``resume``."""
    restarts = torchrun_restarts()
    if resume is None and restarts > 0:
        print_log(
            f'restarted by torchrun (restart {restarts}): --resume auto',
            logger='current')
        return 'auto'
    return resume


def set_resume(cfg: Config, resume: Optional[str]) -> None:
    """Apply ``--resume``: ``'newest'`` (``--resume`` alone) takes the
    newest intact checkpoint in the work dir and refuses a work dir with
    none; ``'auto'`` takes it too, or starts a new run in a work dir that
    holds no checkpoint (a job that may be restarted: Slurm's requeue,
    torchrun's ``--max-restarts``); a path takes that file. Without
    ``--resume`` a work dir that holds checkpoints is refused, so a new run
    never overwrites an old one.
    """
    if resume == 'auto' and not existing_checkpoints(cfg.work_dir):
        print_log(
            f'--resume auto: no checkpoint in {cfg.work_dir}, a new run',
            logger='current')
        resume = None
    if resume is None:
        found = existing_checkpoints(cfg.work_dir)
        if found:
            raise InputError(
                f'{cfg.work_dir}: already holds checkpoints from an earlier '
                f'run ({osp.basename(found[-1])}, ...); pass --resume to '
                'continue it or --work-dir to start a new one')
        return
    if resume in ('newest', 'auto'):
        resume, why = resume_checkpoint(cfg.work_dir)
        if resume is None:
            raise InputError(
                f'{cfg.work_dir}: --resume found no checkpoint to continue '
                f'from ({why}); pass its path (--resume PATH) or drop '
                '--resume')
        print_log(f'--resume: {resume} ({why})', logger='current')
    verify_checkpoint_file(resume)
    cfg.resume = True
    cfg.load_from = resume
    continue_mlflow_run(cfg, resume)


def verify_start_checkpoints(cfg: Config) -> None:
    """Check, before anything is built, the local files a run will load
    besides ``--resume``: ``load_from``, else the COCO transplant's
    checkpoint (the hook skips itself on resume or ``load_from``; a missing
    file is its documented fallback). URLs are checked by the safe loader
    when fetched."""
    if cfg.get('resume'):
        return
    if cfg.get('load_from'):
        if '://' not in cfg.load_from:
            verify_checkpoint_file(cfg.load_from)
        return
    path = coco_start_checkpoint(cfg)
    if path and osp.isfile(path):
        verify_checkpoint_file(path)
