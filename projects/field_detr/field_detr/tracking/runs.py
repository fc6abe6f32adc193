"""What the tools do with a training's MLflow run around the Runner: keep
evaluation out of it, continue it on ``--resume``, end it when training
fails."""
import torch
from mmengine.config import Config

from .mlflow_backend import FieldMLflowVisBackend, mlflow_backend_of

MLFLOW_BACKEND = FieldMLflowVisBackend.__name__


def mlflow_backends(cfg: Config) -> list:
    """The config's ``FieldMLflowVisBackend`` entries."""
    vis = cfg.get('visualizer') or {}
    return [
        b for b in vis.get('vis_backends') or []
        if b.get('type') == MLFLOW_BACKEND
    ]


def without_mlflow(cfg: Config) -> None:
    """Evaluation is not a training run: keep it out of MLflow."""
    vis = cfg.get('visualizer') or {}
    if vis.get('vis_backends'):
        vis.vis_backends = [
            b for b in vis.vis_backends if b.get('type') != MLFLOW_BACKEND
        ]


def continue_mlflow_run(cfg: Config, checkpoint: str) -> None:
    """Give the MLflow backend the run id stored in ``checkpoint``, so a
    resumed training logs into the same run."""
    backends = mlflow_backends(cfg)
    if not backends:
        return
    meta = torch.load(
        checkpoint, map_location='cpu', weights_only=True,
        mmap=True).get('meta', {})
    if meta.get('mlflow_run_id'):
        for backend in backends:
            backend.run_id = meta['mlflow_run_id']


def end_tracking(runner, status: str) -> None:
    """Mark the MLflow run of ``runner`` (if any) as ended with ``status``,
    e.g. ``'FAILED'`` when training stops on an error."""
    backend = mlflow_backend_of(runner)
    if backend is not None:
        backend.end(status)
