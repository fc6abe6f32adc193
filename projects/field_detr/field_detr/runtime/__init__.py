"""What ``tools/train.py``, ``tools/test.py`` and the other tools do besides
parsing their arguments:

* :mod:`.cli` — Runner arguments (``--cfg-options``, ``--launcher``),
  reading the config, ending the MLflow run of a failed training, the
  out-of-memory advice;
* :mod:`.config_edits` — split folders, work dir, AMP and device fallbacks,
  learning-rate scaling, EMA / early stopping, data loader options;
* :mod:`.resume` — ``--resume`` and the checkpoints a run starts from;
* :mod:`.distributed` — the CPU process group under torchrun.

The tools call them as ``runtime.<name>``.
"""
from ..errors import exit_on_error
from .cli import (add_runner_args, end_tracking, load_config, oom_advice,
                  parse_runner_args)
from .config_edits import (LOADERS, add_optional_hooks, apply_device_fallbacks,
                           apply_lr_scaling, disable_amp, effective_batch,
                           enable_amp, normalise_dataloaders, set_split,
                           set_work_dir, without_mlflow)
from .distributed import (finish_distributed, init_cpu_distributed,
                          world_size_from_env)
from .resume import (continue_mlflow_run, existing_checkpoints,
                     resume_checkpoint, set_resume, verify_start_checkpoints)

__all__ = [
    'LOADERS', 'add_optional_hooks', 'add_runner_args',
    'apply_device_fallbacks', 'apply_lr_scaling', 'continue_mlflow_run',
    'disable_amp', 'effective_batch', 'enable_amp', 'end_tracking',
    'existing_checkpoints', 'exit_on_error', 'finish_distributed',
    'init_cpu_distributed', 'load_config', 'normalise_dataloaders',
    'oom_advice', 'parse_runner_args', 'resume_checkpoint', 'set_resume',
    'set_split', 'set_work_dir', 'verify_start_checkpoints', 'without_mlflow',
    'world_size_from_env'
]
