from .mlflow_backend import FieldMLflowVisBackend
from .tensorboard_backend import FieldTensorboardVisBackend

__all__ = ['FieldMLflowVisBackend', 'FieldTensorboardVisBackend']
