"""What ``tools/train.py``, ``tools/test.py`` and the other tools do besides
parsing their arguments, as ``runtime.<name>``:

* :mod:`.cli` — Runner arguments (``--cfg-options``, ``--launcher``),
  reading the config, the out-of-memory advice;
* :mod:`.config_edits` — split folders, work dir, AMP and device fallbacks,
  learning-rate scaling, EMA / early stopping, data loader options;
* :mod:`.distributed` — the CPU process group under torchrun;
* :mod:`.schedule` — ``--epochs`` and a schedule that ends with the run;
* :mod:`.start` — ``--resume`` and the checkpoints a run starts from;
* :mod:`.train_loop`, :mod:`.preemption` — the epoch loop that resumes
  within an epoch, and the hook that stops on SIGTERM / SIGUSR1 with a
  checkpoint there;
* from their homes: the newest intact checkpoint of a work dir
  (:mod:`field_detr.checkpoint.resume`), the MLflow run of a training
  (:mod:`field_detr.tracking.runs`), the splits checked before the run
  (:func:`field_detr.datasets.coco.check_splits`).
"""
from ..checkpoint.resume import existing_checkpoints, resume_checkpoint
from ..datasets.coco import check_splits
from ..errors import exit_on_error
from ..tracking.runs import continue_mlflow_run, end_tracking, without_mlflow
from .cli import add_runner_args, load_config, oom_advice, parse_runner_args
from .config_edits import (LOADERS, add_optional_hooks, apply_device_fallbacks,
                           apply_lr_scaling, disable_amp, effective_batch,
                           enable_amp, normalise_dataloaders, set_split,
                           set_work_dir)
from .distributed import (finish_distributed, init_distributed,
                          world_size_from_env)
from .preemption import release_signals
from .schedule import check_schedule, set_epochs
from .start import restarted_resume, set_resume, verify_start_checkpoints

__all__ = [
    'LOADERS', 'add_optional_hooks', 'add_runner_args',
    'apply_device_fallbacks', 'apply_lr_scaling', 'check_schedule',
    'check_splits', 'continue_mlflow_run', 'disable_amp', 'effective_batch',
    'enable_amp', 'end_tracking', 'existing_checkpoints', 'exit_on_error',
    'finish_distributed', 'init_distributed', 'load_config',
    'normalise_dataloaders', 'oom_advice', 'parse_runner_args',
    'release_signals', 'restarted_resume', 'resume_checkpoint', 'set_epochs',
    'set_resume', 'set_split', 'set_work_dir', 'verify_start_checkpoints',
    'without_mlflow', 'world_size_from_env'
]
