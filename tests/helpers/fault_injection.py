"""Faults injected into real training runs by the tests."""
import errno
import json
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class NaNLossFromEpochHook(Hook):
    """From epoch ``epoch`` on, weight the box loss by NaN: the real model's
    loss turns non-finite, as after a divergence."""

    def __init__(self, epoch: int = 2) -> None:
        self.epoch = epoch

    def before_train_epoch(self, runner) -> None:
        if runner.epoch + 1 >= self.epoch:
            model = getattr(runner.model, 'module', runner.model)
            model.bbox_head.loss_bbox.loss_weight = float('nan')


class _AtMomentHook(Hook):
    """A fault fired at a named moment of a run (``fire``): after the first
    validation batch of ``epoch`` for ``validation``, and what the subclass
    adds; the functions it patched for that are restored after the run, so
    a run in the test process leaves the modules as it found them."""

    priority = 'VERY_HIGH'
    moment, epoch = '', 0

    def fire(self) -> None:
        raise NotImplementedError

    def _patch(self, owner, name: str, replacement) -> None:
        if not hasattr(self, '_restore'):
            self._restore = []  # (owner, name, original) of what it patched
        self._restore.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    def after_run(self, runner) -> None:
        for owner, name, original in reversed(getattr(self, '_restore', [])):
            setattr(owner, name, original)
        self._restore = []

    def after_val_iter(self,
                       runner,
                       batch_idx,
                       data_batch=None,
                       outputs=None) -> None:
        # validation follows the epoch: runner.epoch is the finished count
        if self.moment == 'validation' and runner.epoch == self.epoch:
            self.fire()


@HOOKS.register_module()
class KillAtHook(_AtMomentHook):
    """SIGKILL the training process at a named moment, once: the kill
    happens only while ``marker`` does not exist (it is created just
    before), so the resumed run with the same config goes through.

    Moments: ``mid_iteration`` (after the first iteration of ``epoch``),
    ``validation`` (after the first validation batch of ``epoch``),
    ``write:NAME`` or ``write:NAME#K`` (the K-th write of checkpoint file
    NAME, killed with half of its temporary file on disk, before the rename)
    and ``upload:NAME`` (while the MLflow hook uploads checkpoint NAME).
    """

    def __init__(self, moment: str, marker: str, epoch: int = 2) -> None:
        self.moment, self.marker, self.epoch = moment, marker, epoch
        self.writes = 0

    def fire(self) -> None:
        if os.path.exists(self.marker):
            return
        open(self.marker, 'w').close()
        os.kill(os.getpid(), signal.SIGKILL)

    def before_train(self, runner) -> None:
        kind, _, name = self.moment.partition(':')
        if kind == 'write':
            self._kill_in_write(*name.split('#'))
        elif kind == 'upload':
            self._kill_in_upload(name)

    def _kill_in_write(self, name: str, nth: str = '1') -> None:
        from field_detr.checkpoint import hook as layout
        original = layout.fsync_replace

        def fsync_replace(tmp_path, final_path):
            if os.path.basename(final_path) == name:
                self.writes += 1
                if self.writes == int(nth) and not os.path.exists(self.marker):
                    with open(tmp_path, 'rb+') as f:  # half-written
                        f.truncate(os.path.getsize(tmp_path) // 2)
                    self.fire()
            original(tmp_path, final_path)

        self._patch(layout, 'fsync_replace', fsync_replace)

    def _kill_in_upload(self, name: str) -> None:
        from field_detr.tracking import FieldMLflowVisBackend
        original = FieldMLflowVisBackend.log_artifact
        hook = self

        def log_artifact(backend, path, artifact_path=None):
            if os.path.basename(path) == name:
                hook.fire()
            return original(backend, path, artifact_path)

        self._patch(FieldMLflowVisBackend, 'log_artifact', log_artifact)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        if self.moment == 'mid_iteration' and batch_idx == 0 and \
                runner.epoch + 1 == self.epoch:
            self.fire()


@HOOKS.register_module()
class DiskFullAtEpochHook(Hook):
    """From epoch ``epoch`` on, every checkpoint write fails as on a full
    disk: part of the file is written, then ENOSPC."""

    def __init__(self, epoch: int = 2) -> None:
        self.epoch = epoch
        self.full = False

    def before_train_epoch(self, runner) -> None:
        self.full = runner.epoch + 1 >= self.epoch

    def before_train(self, runner) -> None:
        original = runner.save_checkpoint

        def save_checkpoint(out_dir, filename, *args, **kwargs):
            if not self.full:
                return original(out_dir, filename, *args, **kwargs)
            with open(os.path.join(out_dir, filename), 'wb') as f:
                f.write(b'PK\x03\x04 partial')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                          os.path.join(out_dir, filename))

        runner.save_checkpoint = save_checkpoint


@HOOKS.register_module()
class CutImageAtEpochHook(Hook):
    """Before epoch ``epoch``, cut every training image to 60 % of its
    bytes, as a copy still running over the dataset would leave it."""

    def __init__(self, epoch: int = 2) -> None:
        self.epoch = epoch

    def before_train_epoch(self, runner) -> None:
        if runner.epoch + 1 != self.epoch:
            return
        dataset = runner.train_dataloader.dataset
        for i in range(len(dataset)):
            path = dataset.get_data_info(i)['img_path']
            with open(path, 'rb') as f:
                data = f.read()
            with open(path, 'wb') as f:
                f.write(data[:len(data) * 6 // 10])


@HOOKS.register_module()
class SignalAtHook(_AtMomentHook):
    """Send the training process the signal ``signame`` at a moment, once
    (while ``marker`` does not exist; it is created just before), as Slurm
    or a spot instance does: ``iteration`` (in the step of batch ``batch``
    of ``epoch``, counted from 1), ``validation`` (after the first validation
    batch of ``epoch``) or ``write:NAME`` (while checkpoint file NAME of
    ``epoch`` is written). With ``again``, the signal is sent a second time
    during the next write of NAME (the preemption's own). With ``rank``,
    only that process of a distributed run gets it."""

    def __init__(self,
                 moment: str,
                 marker: str,
                 epoch: int = 2,
                 batch: int = 1,
                 signame: str = 'SIGTERM',
                 again: bool = False,
                 rank: int = None) -> None:
        self.moment, self.marker = moment, marker
        self.epoch, self.batch, self.again = epoch, batch, again
        self.signal = getattr(signal, signame)
        self.rank = rank
        self.epoch_now = 0
        self.sent = 0

    def fire(self) -> None:
        from mmengine.dist import get_rank
        if self.rank is not None and get_rank() != self.rank:
            return
        if self.sent == 0 and os.path.exists(self.marker):
            return
        if self.sent == 0:
            open(self.marker, 'w').close()
        self.sent += 1
        os.kill(os.getpid(), self.signal)

    def before_train_epoch(self, runner) -> None:
        self.epoch_now = runner.epoch + 1

    def before_train(self, runner) -> None:
        kind, _, name = self.moment.partition(':')
        if kind != 'write':
            return
        from field_detr.checkpoint import hook as layout
        original = layout.fsync_replace

        def fsync_replace(tmp_path, final_path):
            if (os.path.basename(final_path) == name
                    and self.epoch_now == self.epoch):
                if self.sent == 0 or (self.sent == 1 and self.again):
                    self.fire()
            original(tmp_path, final_path)

        self._patch(layout, 'fsync_replace', fsync_replace)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if (self.moment == 'iteration' and batch_idx + 1 == self.batch
                and runner.epoch + 1 == self.epoch):
            self.fire()


@HOOKS.register_module()
class RecordBatchesHook(Hook):
    """Append each training iteration (iteration, epoch, batch, the
    images' ids, the process's rank) to the JSON-lines file ``path``: what
    was trained, in which order, over interrupted and resumed runs."""

    def __init__(self, path: str) -> None:
        self.path = path

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        from mmengine.dist import get_rank
        ids = [s.img_id for s in data_batch['data_samples']]
        with open(self.path, 'a') as f:
            f.write(
                json.dumps(
                    dict(
                        iter=runner.iter + 1,
                        epoch=runner.epoch + 1,
                        batch=batch_idx,
                        images=ids,
                        rank=get_rank())) + '\n')
