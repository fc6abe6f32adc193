"""Preemption: a signal that warns of the end (Slurm before its time limit,
a spot instance's notice, torchrun stopping its workers) stops training at
the end of the current optimiser step with a checkpoint ``--resume``
continues from, at the next batch of the same epoch."""
import os.path as osp
import signal
import threading
import time
from typing import Optional, Sequence

import torch
import torch.distributed as dist
from mmdet.registry import HOOKS
from mmengine.dist import barrier, get_world_size
from mmengine.hooks import Hook

from ..checkpoint.hook import CheckpointLayoutHook
from ..checkpoint.layout import LATEST
from ..errors import EXIT_PREEMPTED, ConfigError, Preempted
from ..messages import tell_user
from .train_loop import ResumableEpochBasedTrainLoop

#: the checkpoint meta key of a validation that a preemption interrupted
VALIDATION_PENDING = 'validation_pending'


def _signal_number(name: str) -> signal.Signals:
    try:
        return signal.Signals[name if name.startswith('SIG') else 'SIG' + name]
    except KeyError:
        raise ConfigError(f'PreemptionHook: {name} is not a signal name '
                          '(e.g. SIGTERM, SIGUSR1)') from None


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Stop training on ``signals`` with nothing lost.

    The signal only raises a flag; training goes on to the end of the
    optimiser step in progress (every accumulation step of it), then the
    full state (weights, optimizer with the AMP scale, schedules, message
    hub, RNG, EMA, the MLflow run id) is written as
    ``checkpoints/latest_checkpoint.pth``, atomically as every checkpoint,
    one line is logged and the tool exits with status 75
    (:data:`~field_detr.errors.EXIT_PREEMPTED`). ``--resume`` continues at
    the epoch's next batch (:class:`~field_detr.runtime.train_loop.
    ResumableEpochBasedTrainLoop`).

    A signal during validation stops it at once: the epoch's checkpoint is
    on disk already, marked so that the resumed run validates that epoch
    before training on. A signal during the epoch's checkpoint writes lets
    them finish; they are the resume point. Further signals while stopping
    are counted and ignored: nothing is cut short.

    In a distributed run the ranks agree after every optimiser step (a
    one-number all-reduce on the CPU, over gloo) so that all stop at the
    same step, whichever received the signal; rank 0 writes, the others
    wait for it.

    Args:
        signals (sequence of str): the signals that stop training.
            Defaults to ``('SIGTERM', 'SIGUSR1')``: what Slurm, torchrun and
            cloud spot instances send before they stop a process.
    """

    # after every other hook of an iteration: the logger, the schedulers,
    # EMA, the checkpoint hook
    priority = 'LOWEST'

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGUSR1')):
        self.signals = [_signal_number(name) for name in signals]
        self._received: Optional[str] = None
        self._received_at = 0.0
        self._repeats = 0
        self._previous = {}
        self._group = None
        self._checkpoint: Optional[CheckpointLayoutHook] = None
        self._validate_first = False

    def _handle(self, signum, frame) -> None:
        if self._received is None:
            self._received = signal.Signals(signum).name
            self._received_at = time.perf_counter()
        else:
            self._repeats += 1

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._validate_first = bool(
            runner.cfg.get('resume')
            and checkpoint.get('meta', {}).get(VALIDATION_PENDING))

    def before_train(self, runner) -> None:
        self._checkpoint = next(
            (h for h in runner.hooks if isinstance(h, CheckpointLayoutHook)),
            None)
        if not isinstance(runner.train_loop, ResumableEpochBasedTrainLoop):
            runner.logger.warning('PreemptionHook: off, train_cfg.type is not '
                                  'ResumableEpochBasedTrainLoop')
            return
        if self._checkpoint is None:
            runner.logger.warning(
                'PreemptionHook: off, the checkpoint hook is not '
                'CheckpointLayoutHook')
            return
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: off, training runs '
                                  'outside the main thread')
            return
        for number in self.signals:
            self._previous[number] = signal.signal(number, self._handle)
        if get_world_size() > 1 and dist.get_backend() != 'gloo':
            self._group = dist.new_group(backend='gloo')
        if self._validate_first:
            # the validation a preemption interrupted, before training on
            self._validate_first = False
            tell_user(
                f'validating epoch {runner.epoch}, which the preemption '
                'interrupted', runner.logger)
            runner.val_loop.run()

    def after_run(self, runner) -> None:
        self.restore_handlers()

    def restore_handlers(self) -> None:
        """Give the signals back the handlers they had before training.
        Not done when training stops on a signal: further signals are
        ignored until the tool has ended its tracking and process group
        (``release_signals``)."""
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _stop_agreed(self) -> bool:
        """Whether this rank or any other received a signal (never while
        the hook has no handlers installed: off, or training is over)."""
        if not self._previous:
            return False
        stop = self._received is not None
        if get_world_size() > 1:
            flag = torch.tensor([int(stop)])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group)
            stop = bool(flag.item())
        return stop

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        wrapper = runner.optim_wrapper
        if hasattr(wrapper, 'should_update') and not wrapper.should_update():
            return  # within an accumulation: the step is not done
        if not self._stop_agreed():
            return
        started = time.perf_counter()
        path = self._checkpoint.save_resume_point(
            runner, meta=dict(epoch=runner.epoch, iter=runner.iter + 1))
        self._stop(
            runner, f'at iteration {runner.iter + 1} (batch {batch_idx + 1} '
            f'of {len(runner.train_dataloader)} of epoch {runner.epoch + 1})',
            path, started)

    def after_train_epoch(self, runner) -> None:
        # a signal during the epoch's last step or its checkpoint writes:
        # those files are the resume point
        if not self._stop_agreed():
            return
        started = time.perf_counter()
        epoch = runner.epoch + 1
        if runner.train_loop.validation_due(epoch):
            path = self._checkpoint.mark_latest(**{VALIDATION_PENDING: True})
            where = f'after epoch {epoch}, before its validation'
        else:
            path = osp.join(self._checkpoint.out_dir, LATEST)
            where = f'after epoch {epoch}'
        self._stop(runner, where, path, started)

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs=None) -> None:
        if not self._stop_agreed():
            return
        started = time.perf_counter()
        path = self._checkpoint.mark_latest(**{VALIDATION_PENDING: True})
        self._stop(runner, f'in the validation of epoch {runner.epoch}', path,
                   started)

    def _stop(self, runner, where: str, path: str, started: float) -> None:
        barrier()  # rank 0 has written
        now = time.perf_counter()
        what = (f'{self._received} {now - self._received_at:.1f} s ago'
                if self._received else 'a signal on another rank')
        repeats = f' ({self._repeats} more ignored)' if self._repeats else ''
        line = (f'preempted: {what}{repeats}, training stopped {where}; '
                f'{path} written in {now - started:.1f} s; '
                f'--resume continues from it (exit status {EXIT_PREEMPTED})')
        tell_user(line, runner.logger)
        raise Preempted(line)


def release_signals(runner) -> None:
    """Restore the signal handlers a :class:`PreemptionHook` of ``runner``
    took over (after training, however it ended)."""
    for hook in runner.hooks:
        if isinstance(hook, PreemptionHook):
            hook.restore_handlers()
