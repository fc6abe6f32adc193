"""MMEngine's CheckpointHook writing the layout of :mod:`.layout`, every
file atomically."""
import contextlib
import os
import os.path as osp
import shutil
from typing import Optional, Tuple

import torch
from mmdet.registry import HOOKS
from mmengine.dist import is_main_process, master_only
from mmengine.hooks import CheckpointHook

from ..errors import ConfigError, TrainingStopped, error_line
from ..messages import tell_user
from .files import fsync_replace, load_checkpoint_file
from .layout import (BEST, CHECKPOINT_DIR, COPIES_BYTES, FULL, LATEST,
                     LIGHTWEIGHT, checkpoint_bytes, kept_files,
                     remove_stale_temp_files, temp_name)


@HOOKS.register_module()
class CheckpointLayoutHook(CheckpointHook):
    """Write checkpoints to ``<work_dir>/checkpoints/`` in this layout:

    ============================================  ===========================
    ``checkpoint_epoch_N_lightweight.pth``        every epoch: weights and
                                                  meta (epoch, iter, classes,
                                                  config), no optimizer
    ``checkpoint_epoch_N.pth``                    every ``full_interval``
                                                  epochs and the last one:
                                                  full, resumable state
    ``latest_checkpoint.pth``                     full state after every
                                                  epoch; ``--resume`` takes it
    ``best_model.pth``                            weights of the best
                                                  ``save_best`` score so far,
                                                  with ``best_epoch``,
                                                  ``best_score`` and the
                                                  metric's chosen
                                                  ``score_thresholds`` in
                                                  meta
    ============================================  ===========================

    A full checkpoint holds what MMEngine's ``Runner.save_checkpoint`` saves
    (weights, optimizer with the AMP loss scaler, parameter schedulers,
    message hub) plus the RNG state that
    :class:`~field_detr.hooks.RNGStateHook` adds. Every file is written to a
    temporary name, flushed and renamed, so a killed run never leaves a
    truncated file under a final name. Only the main process writes.

    Args:
        full_interval (int): epochs between full checkpoints. Defaults to 10.
        keep_lightweight (int): how many of the newest lightweight
            checkpoints to keep; -1 keeps all. Full, best and latest
            checkpoints are never deleted. Defaults to 2: ``--resume``
            needs only the newest, and a 50-epoch DETR R-50 run keeping all
            would hold 8 GB of them. Retention is the base class's
            (``max_keep_ckpts`` and its ``keep_ckpt_ids``, which survive a
            resume through the message hub).
        save_best (str, optional): metric that selects ``best_model.pth``.
            Defaults to ``'coco/bbox_mAP'``.
        rule (str): ``'greater'`` or ``'less'``: which way is better.
            Defaults to ``'greater'``.
        **kwargs: other :class:`mmengine.hooks.CheckpointHook` arguments
            (``backend_args``, ``greater_keys``, ..., and ``published_keys``:
            the last full checkpoint and ``best_model.pth`` published at the
            end of training, as MMEngine does).
            Those the layout fixes (``interval``, ``by_epoch``,
            ``save_last``, ``save_optimizer``, ``save_param_scheduler``,
            ``save_begin``, ``filename_tmpl``, ``out_dir``,
            ``max_keep_ckpts``: ``keep_lightweight`` says it) are no
            arguments: naming one raises
            :class:`~field_detr.errors.ConfigError`.
    """

    #: MMEngine's arguments the layout fixes
    FIXED = ('interval', 'by_epoch', 'save_last', 'save_optimizer',
             'save_param_scheduler', 'save_begin', 'filename_tmpl', 'out_dir',
             'max_keep_ckpts')

    def __init__(self,
                 full_interval: int = 10,
                 keep_lightweight: int = 2,
                 save_best: Optional[str] = 'coco/bbox_mAP',
                 rule: str = 'greater',
                 **kwargs) -> None:
        fixed = [key for key in kwargs if key in self.FIXED]
        if fixed:
            raise ConfigError(
                f'CheckpointLayoutHook: {fixed[0]} is not an argument (the '
                'layout writes a lightweight checkpoint every epoch, a full '
                'one every full_interval epochs, in <work_dir>/checkpoints/, '
                'and keeps keep_lightweight of them); use MMEngine\'s '
                'CheckpointHook for another layout')
        super().__init__(
            interval=1,
            by_epoch=True,
            save_last=False,
            save_best=save_best,
            rule=rule if save_best else None,
            max_keep_ckpts=keep_lightweight,
            filename_tmpl=LIGHTWEIGHT,
            **kwargs)
        self.full_interval = full_interval

    #: (what, why) when --resume starts the optimizer cold, else None
    _cold_from = None

    @property
    def keep_lightweight(self) -> int:
        """Lightweight checkpoints kept: the base class's
        ``max_keep_ckpts``."""
        return self.max_keep_ckpts

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._cold_from = None
        if not runner.cfg.get('resume'):
            return
        if 'optimizer' not in checkpoint:
            self._cold_from = ('a lightweight checkpoint',
                               'it has no optimizer state')
        elif _ball_head_is_new(runner, checkpoint):
            # its optimizer state has no group for the head's parameters:
            # resume as from a lightweight checkpoint
            for key in ('optimizer', 'param_schedulers'):
                checkpoint.pop(key, None)
            self._cold_from = ('a checkpoint without the ball head',
                               'its optimizer state has no place for the '
                               'head\'s parameters')

    def before_train(self, runner) -> None:
        # the base class restores keep_ckpt_ids from the message hub (and
        # would put a preset out_dir under <out_dir>/<work dir name>)
        super().before_train(runner)
        self.out_dir = osp.join(runner.work_dir, CHECKPOINT_DIR)
        if is_main_process():
            os.makedirs(self.out_dir, exist_ok=True)
            removed = remove_stale_temp_files(self.out_dir)
            if removed:
                runner.logger.warning(
                    'removed unfinished checkpoint writes of a killed run: ' +
                    ', '.join(removed))
            self._check_disk(runner)
        if self._cold_from:
            self._fast_forward_schedules(runner)

    def kept_files(self, max_epochs: int) -> dict:
        """How many files of each kind a run of ``max_epochs`` epochs keeps
        at its end, under this hook's retention settings."""
        return kept_files(max_epochs, self.full_interval,
                          self.keep_lightweight, bool(self.save_best))

    def disk_estimate(self, runner) -> Tuple[int, int]:
        """Bytes the run's checkpoints will take at its end: in the work dir,
        and as copies elsewhere, the number other hooks put in the message
        hub's ``COPIES_BYTES`` (``MLflowRunHook``: its uploads)."""
        model = getattr(runner.model, 'module', runner.model)
        size = checkpoint_bytes(model)
        kept = self.kept_files(runner.max_epochs)
        local = kept['full'] * size['full'] + kept['weights'] * size['weights']
        return local, runner.message_hub.get_info(COPIES_BYTES, 0)

    def _check_disk(self, runner) -> None:
        local, mlflow = self.disk_estimate(runner)
        free = shutil.disk_usage(self.out_dir).free
        gb = 2**30
        note = (f'checkpoints of this run: about {local / gb:.1f} GB in '
                f'{self.out_dir}' + (f' and {mlflow / gb:.1f} GB of MLflow '
                                     'copies' if mlflow else '') +
                f'; {free / gb:.1f} GB free')
        if free < local + mlflow:
            runner.logger.warning(
                f'{note}: not enough for the whole run. Keep fewer '
                'lightweight checkpoints (default_hooks.checkpoint.'
                'keep_lightweight), write fewer full ones (full_interval) '
                'or upload fewer (FIELD_DETR_MLFLOW_CHECKPOINTS=none)')
        else:
            tell_user(note, runner.logger)

    def _fast_forward_schedules(self, runner) -> None:
        """Resuming from a lightweight checkpoint: no optimizer or scheduler
        state. Warn, and step the schedules to the resumed epoch so the
        learning rate is where it would have been."""
        runner.logger.warning(
            f'resuming from {self._cold_from[0]} (epoch {runner.epoch}): '
            f'{self._cold_from[1]}, so AdamW moments and the AMP loss scale '
            'start cold; the learning-rate schedule is moved forward to the '
            'resumed epoch')
        schedulers = runner.param_schedulers or []
        if isinstance(schedulers, dict):
            schedulers = [s for group in schedulers.values() for s in group]
        for scheduler in schedulers:
            for _ in range(
                    runner.epoch if scheduler.by_epoch else runner.iter):
                scheduler.step()

    def after_train_epoch(self, runner) -> None:
        epoch = runner.epoch + 1
        outdated = self._retain(runner, epoch)
        self._save(runner, LIGHTWEIGHT.format(epoch), full=False)
        if epoch % self.full_interval == 0 or epoch == runner.max_epochs:
            # the same state twice: serialise it once, copy it for latest
            self._save(runner, FULL.format(epoch), full=True)
            self._copy(FULL.format(epoch), LATEST)
        else:
            self._save(runner, LATEST, full=True)
        if outdated is not None and is_main_process():
            path = osp.join(self.out_dir, LIGHTWEIGHT.format(outdated))
            if osp.isfile(path):
                os.remove(path)

    def after_train(self, runner) -> None:
        """A run stopped early (``EarlyStoppingHook``) ends like a finished
        one: ``checkpoint_epoch_N.pth`` of its last epoch exists. With
        ``published_keys``, the last full checkpoint and ``best_model.pth``
        are published as MMEngine's hook publishes its last and best ones
        (``<name>-<sha256[:8]>.pth`` beside them, only those keys)."""
        epoch = runner.epoch
        if (epoch and epoch < runner.max_epochs and is_main_process()
                and not osp.exists(osp.join(self.out_dir, FULL.format(epoch)))
                and osp.exists(osp.join(self.out_dir, LATEST))):
            self._copy(LATEST, FULL.format(epoch))
            tell_user(
                f'stopped at epoch {epoch} of {runner.max_epochs}: '
                f'{FULL.format(epoch)} written', runner.logger)
        if self.published_keys is None:
            return
        for name in (FULL.format(epoch), BEST):
            path = osp.join(self.out_dir, name)
            if epoch and osp.isfile(path):
                self._publish_model(runner, path)

    def save_resume_point(self, runner, meta: dict) -> str:
        """Write the full state now, within an epoch, as
        ``latest_checkpoint.pth`` (``meta`` gives its epoch and iteration):
        ``--resume`` takes it, the epoch's end replaces it. Returns its
        path."""
        self._save(runner, LATEST, full=True, meta=meta)
        return osp.join(self.out_dir, LATEST)

    def mark_latest(self, **meta) -> str:
        """Add ``meta`` to ``latest_checkpoint.pth``'s meta, the rest of it
        as it is (read, then written back atomically; by the main process).
        Returns its path."""
        path = osp.join(self.out_dir, LATEST)
        if not is_main_process():
            return path
        checkpoint = load_checkpoint_file(path)
        checkpoint['meta'].update(meta)
        with self._stop_if_unwritable(LATEST):
            tmp_path = osp.join(self.out_dir, temp_name(LATEST))
            torch.save(checkpoint, tmp_path)
            fsync_replace(tmp_path, path)
        return path

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        """Epoch-based only: nothing to do per iteration."""

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best:
            return
        key = self.key_indicators[0]
        if key not in metrics:
            runner.logger.warning(
                f'best checkpoint: metric "{key}" is not among the '
                f'validation metrics {sorted(metrics)}')
            return
        score = metrics[key]
        # CheckpointHook keeps the best score in the message hub, so it
        # survives a resume.
        best = runner.message_hub.get_info('best_score')
        if best is not None and not self.is_better_than[key](score, best):
            return
        runner.message_hub.update_info('best_score', score)
        meta = dict(
            best_epoch=runner.epoch, best_metric=key, best_score=float(score))
        # the score thresholds the metric chose on these validation frames
        # (the ball's), published with the model: export and LocalDetector
        # use them
        thresholds = {
            name.rsplit('/', 1)[-1][:-len('_best_thr')]: float(value)
            for name, value in metrics.items()
            if name.endswith('_best_thr') and value == value
        }
        if thresholds:
            meta['score_thresholds'] = thresholds
        self._save(runner, BEST, full=False, meta=meta)
        tell_user(f'best_model.pth: {key} {score:.4f} at epoch {runner.epoch}',
                  runner.logger)

    @master_only
    def _save(self,
              runner,
              filename: str,
              full: bool,
              meta: Optional[dict] = None) -> None:
        tmp_name = temp_name(filename)
        with self._stop_if_unwritable(filename):
            runner.save_checkpoint(
                self.out_dir,
                tmp_name,
                save_optimizer=full,
                save_param_scheduler=full,
                meta=meta,
                by_epoch=True,
                backend_args=self.backend_args)
            fsync_replace(
                osp.join(self.out_dir, tmp_name),
                osp.join(self.out_dir, filename))
        if full:
            # MMEngine's find_latest_checkpoint() reads this file.
            with open(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(self.out_dir, LATEST))

    @master_only
    def _copy(self, filename: str, copy_name: str) -> None:
        tmp_path = osp.join(self.out_dir, temp_name(copy_name))
        with self._stop_if_unwritable(copy_name):
            shutil.copyfile(osp.join(self.out_dir, filename), tmp_path)
            fsync_replace(tmp_path, osp.join(self.out_dir, copy_name))

    @contextlib.contextmanager
    def _stop_if_unwritable(self, filename: str):
        """A checkpoint that cannot be written (full disk, I/O error) stops
        training with one line: the file, the free space, the last good
        checkpoint. Its temporary file is removed; earlier files stay."""
        try:
            yield
        except TrainingStopped:
            raise  # a hook stopped training before the save
        except (OSError, RuntimeError) as e:
            tmp_path = osp.join(self.out_dir, temp_name(filename))
            if osp.exists(tmp_path):
                os.remove(tmp_path)
            free = shutil.disk_usage(self.out_dir).free / 2**20
            latest = osp.join(self.out_dir, LATEST)
            last = latest if osp.exists(latest) else 'none yet'
            reason = error_line(e, type(e).__name__)
            raise TrainingStopped(
                f'{osp.join(self.out_dir, filename)}: could not be written '
                f'({reason}); {free:.0f} MB free in {self.out_dir}; '
                f'training stopped, the last good checkpoint is {last}'
            ) from None

    def _retain(self, runner, epoch: int) -> Optional[int]:
        """The base class's retention record for this epoch's lightweight
        checkpoint: ``keep_ckpt_ids`` (in the message hub, so in every
        checkpoint written after it) takes ``epoch`` and drops its oldest
        entry, whose epoch is returned for deletion once this epoch's files
        are safely written (None when nothing is dropped). Keeping 0 drops
        this epoch's own file; a negative number keeps all."""
        if self.max_keep_ckpts == 0:
            return epoch
        if self.max_keep_ckpts < 0:
            return None
        outdated = None
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated = self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(epoch)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return outdated


def _ball_head_is_new(runner, checkpoint: dict) -> bool:
    """The model has a ball head and the checkpoint's weights have none (a
    run of the model before the head, or with it off)."""
    model = getattr(runner.model, 'module', runner.model)
    return getattr(model, 'with_ball_head', False) and not any(
        key.startswith('ball_head.')
        for key in checkpoint.get('state_dict', {}))
