"""TensorBoard with the same scalar names as MLflow."""
from mmdet.registry import VISBACKENDS
from mmengine.visualization import TensorboardVisBackend
from mmengine.visualization.vis_backend import force_init_env

from .metric_names import metric_name, rename_scalars


@VISBACKENDS.register_module()
class FieldTensorboardVisBackend(TensorboardVisBackend):
    """MMEngine's ``TensorboardVisBackend`` logging ``train_loss``,
    ``learning_rate``, ``val_map``, ``val_ap_player``... (the MLflow names).
    Events go to ``<work_dir>/<timestamp>/vis_data/``, so
    ``tensorboard --logdir work_dirs`` shows every run."""

    @force_init_env
    def add_scalars(self,
                    scalar_dict: dict,
                    step: int = 0,
                    file_path=None,
                    **kwargs) -> None:
        for name, value in rename_scalars(scalar_dict).items():
            super().add_scalar(name, value, step)

    @force_init_env
    def add_scalar(self, name: str, value, step: int = 0, **kwargs) -> None:
        super().add_scalar(metric_name(name), value, step)
