"""Checkpoints, dataset facts, logs and the best model into the MLflow run."""
import copy
import glob
import os
import os.path as osp

import torch
from mmdet.registry import HOOKS
from mmengine.dist import master_only
from mmengine.hooks import EarlyStoppingHook, Hook
from mmengine.runner import BaseLoop

from ..checkpoint.hook import CheckpointLayoutHook
from ..checkpoint.layout import (BEST, CHECKPOINT_DIR, COPIES_BYTES, LATEST,
                                 checkpoint_bytes)
from .mlflow_backend import mlflow_backend_of


@HOOKS.register_module()
class MLflowRunHook(Hook):
    """Companion of ``FieldMLflowVisBackend``: logs what the Runner's
    visualizer cannot see.

    * before training: image and box counts per split and class (params);
    * checkpoints (``<work_dir>/checkpoints``) as the run writes them: new
      files once, ``latest_checkpoint.pth`` and ``best_model.pth`` again
      when they change (the artifact is replaced);
    * the MLflow run id in every checkpoint's meta (``mlflow_run_id``), so
      ``--resume`` continues the same run;
    * after training: why it ended (tag ``stop_reason``: completed, or the
      early-stopping rule), the best model as an MLflow PyTorch model named
      ``model`` (``mlflow.pytorch.load_model("runs:/<id>/model")``) and a
      loss/mAP plot; the log files follow when the backend closes
      (MMEngine's ``MLflowVisBackend.close``).

    Does nothing when the backend is absent or tracking has failed.

    Args:
        log_checkpoints (str): which checkpoints to upload: ``'all'``,
            ``'milestones'`` (full ``checkpoint_epoch_N.pth``, latest and
            best; not the per-epoch lightweight ones) or ``'none'``. The
            environment variable ``FIELD_DETR_MLFLOW_CHECKPOINTS`` overrides
            it (e.g. on a machine short of disk). Defaults to
            ``'milestones'``.
        log_model (bool): log the best model at the end. Defaults to True.
    """

    priority = 'LOWEST'  # after CheckpointLayoutHook wrote its files
    CHOICES = ('all', 'milestones', 'none')

    def __init__(self,
                 log_checkpoints: str = 'milestones',
                 log_model: bool = True) -> None:
        log_checkpoints = os.environ.get('FIELD_DETR_MLFLOW_CHECKPOINTS',
                                         log_checkpoints)
        if log_checkpoints not in self.CHOICES:
            raise ValueError(f'log_checkpoints must be one of {self.CHOICES}'
                             f', got {log_checkpoints!r}')
        self.log_checkpoints = log_checkpoints
        self.log_model = log_model
        self._uploaded = {}

    def upload_bytes(self, kept: dict, size: dict) -> int:
        """Bytes this hook uploads by the end of a run that keeps ``kept``
        files (``checkpoint.layout.kept_files``) of ``size`` bytes each
        (``checkpoint.layout.checkpoint_bytes``)."""
        full = kept['full'] * size['full']
        return {
            'none': 0,
            'milestones': full + size['weights'],
            'all': full + kept['weights'] * size['weights']
        }[self.log_checkpoints]

    def before_run(self, runner) -> None:
        """Put the bytes this hook will upload in the message hub, where the
        checkpoint hook reads them for its disk estimate."""
        # training only: Runner.train builds its loop before this hook
        # runs; asking a test run for max_epochs would build the loop
        if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            return
        layout = next(
            (h for h in runner.hooks if isinstance(h, CheckpointLayoutHook)),
            None)
        if layout is None:
            return
        model = getattr(runner.model, 'module', runner.model)
        upload = self.upload_bytes(
            layout.kept_files(runner.max_epochs), checkpoint_bytes(model))
        runner.message_hub.update_info(COPIES_BYTES, upload, resumed=False)

    @master_only
    def before_train(self, runner) -> None:
        backend = mlflow_backend_of(runner)
        if backend is None or backend.resumed:
            return
        from .run_params import dataset_params
        params = dataset_params('train', runner.train_dataloader.dataset)
        if runner.val_loop is not None:
            params.update(
                dataset_params('val', runner.val_loop.dataloader.dataset))
        backend.log_params(params)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        backend = mlflow_backend_of(runner)
        if backend is not None and backend.run_id:
            checkpoint.setdefault('meta', {})['mlflow_run_id'] = \
                backend.run_id

    @master_only
    def _upload_checkpoints(self, runner) -> None:
        backend = mlflow_backend_of(runner)
        if (backend is None or not backend.active
                or self.log_checkpoints == 'none'):
            return
        for path in sorted(
                glob.glob(osp.join(runner.work_dir, CHECKPOINT_DIR, '*.pth'))):
            if (self.log_checkpoints == 'milestones'
                    and path.endswith('_lightweight.pth')):
                continue
            stamp = os.stat(path).st_mtime_ns
            if self._uploaded.get(path) != stamp:
                backend.log_artifact(path, CHECKPOINT_DIR)
                self._uploaded[path] = stamp

    def after_train_epoch(self, runner) -> None:
        self._upload_checkpoints(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._upload_checkpoints(runner)

    @master_only
    def after_train(self, runner) -> None:
        backend = mlflow_backend_of(runner)
        if backend is None or not backend.active:
            return
        backend.set_tags(
            dict(stop_reason=stop_reason(runner), epochs_trained=runner.epoch))
        self._upload_checkpoints(runner)
        # the logs themselves: FieldMLflowVisBackend.close (MMEngine's)
        log_dir = runner.log_dir
        scalars = osp.join(log_dir, 'vis_data', 'scalars.json')
        if osp.isfile(scalars):
            self._log_plot(backend, scalars, log_dir)
        if self.log_model:
            backend.log_model(self._best_model(runner))

    @staticmethod
    def _log_plot(backend, scalars: str, log_dir: str) -> None:
        try:
            from .curves import plot_curves
            out = osp.join(log_dir, 'curves.png')
            plot_curves([scalars], ['loss', 'coco/bbox_mAP', 'lr'], out)
            backend.log_artifact(out, 'plots')
        except Exception as e:  # noqa: BLE001 - a plot must not fail a run
            from mmengine.logging import MMLogger
            MMLogger.get_current_instance().warning(
                f'training curves not plotted: {e}')

    @staticmethod
    def _best_model(runner) -> torch.nn.Module:
        """A CPU copy of the model with ``best_model.pth``'s weights (the
        final weights when there is no best checkpoint)."""
        model = runner.model
        model = getattr(model, 'module', model)
        model = getattr(model, '_orig_mod', model)
        model = copy.deepcopy(model).cpu().eval()
        for name in (BEST, LATEST):  # their weights are EMA's if it is on
            path = osp.join(runner.work_dir, CHECKPOINT_DIR, name)
            if osp.isfile(path):
                state = torch.load(path, map_location='cpu', weights_only=True)
                model.load_state_dict(state['state_dict'])
                break
        return model


def stop_reason(runner) -> str:
    """Why training ended: ``completed``, or the early-stopping rule that
    stopped it."""
    if not getattr(runner.train_loop, 'stop_training', False):
        return f'completed {runner.epoch} epochs'
    hook = next((h for h in runner.hooks if isinstance(h, EarlyStoppingHook)),
                None)
    if hook is None:
        return f'stopped at epoch {runner.epoch}'
    return (f'early stopping at epoch {runner.epoch} of {runner.max_epochs}: '
            f'{hook.monitor} did not improve by {abs(hook.min_delta):g} in '
            f'{hook.wait_count} validation rounds '
            f'(best {hook.best_score:.4f})')
