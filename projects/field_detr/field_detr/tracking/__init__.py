"""Experiment tracking, in one place:

* :mod:`.mlflow_backend` — ``FieldMLflowVisBackend``, MMEngine's MLflow
  backend with a local default store, continued runs and a run that
  survives the server;
* :mod:`.tensorboard_backend` — ``FieldTensorboardVisBackend``, the same
  names in TensorBoard;
* :mod:`.metric_names` — one naming scheme for both;
* :mod:`.run_params` — the config, dataset and environment as run params;
* :mod:`.run_hook` — ``MLflowRunHook``: checkpoints, dataset facts, the
  best model and why the run ended;
* :mod:`.runs` — the tools' side: evaluation kept out of MLflow, a resumed
  run continued, a failed run ended as failed.
"""
from .mlflow_backend import FieldMLflowVisBackend, mlflow_backend_of
from .run_hook import MLflowRunHook
from .tensorboard_backend import FieldTensorboardVisBackend

__all__ = [
    'FieldMLflowVisBackend', 'FieldTensorboardVisBackend', 'MLflowRunHook',
    'mlflow_backend_of'
]
