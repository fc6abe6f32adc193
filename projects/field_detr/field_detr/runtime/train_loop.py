"""MMEngine's epoch loop, able to continue in the middle of an epoch: where
a preempted run stopped (:class:`~field_detr.runtime.preemption.
PreemptionHook`)."""
import itertools

from mmengine.registry import LOOPS
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader

from ..errors import ConfigError
from ..hooks.rng_state_hook import get_rng_state, set_rng_state
from ..messages import tell_user


class _SkippedBatches:
    """A batch sampler's epoch without its first ``skip`` batches: their
    indices are drawn and dropped, nothing of theirs is loaded."""

    def __init__(self, batch_sampler, skip: int) -> None:
        self.batch_sampler, self.skip = batch_sampler, skip

    def __iter__(self):
        return itertools.islice(iter(self.batch_sampler), self.skip, None)

    def __len__(self) -> int:
        return len(self.batch_sampler) - self.skip


def remaining_batches(loader: DataLoader, start: int):
    """An iterator over ``loader``'s batches of this epoch from batch
    ``start`` on, in the order the whole epoch would give them.

    The loader's own batch sampler (its sampler set to this epoch) yields
    the indices; the first ``start`` batches are dropped as indices. The
    iterator is made by a loader with ``loader``'s settings (workers,
    collate function, worker seeding; its workers not persistent: they
    serve the rest of one epoch) and draws no random number: the run's
    random state stays where the checkpoint left it."""
    if loader.batch_sampler is None:
        raise ConfigError('resuming within an epoch needs a data loader '
                          'with a batch size or a batch sampler')
    workers = loader.num_workers
    rest = DataLoader(
        loader.dataset,
        batch_sampler=_SkippedBatches(loader.batch_sampler, start),
        num_workers=workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator,
        prefetch_factor=loader.prefetch_factor if workers else None,
        persistent_workers=False)
    state = get_rng_state()
    batches = iter(rest)  # torch draws the workers' base seed here
    set_rng_state(state)
    return batches


# MMEngine's registry: its Runner builds loops from it whatever the scope
@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """MMEngine's ``EpochBasedTrainLoop`` that continues a run resumed in
    the middle of an epoch at its next batch.

    A checkpoint written within an epoch (a preemption's) holds the epoch
    and the iterations done; the batches of that epoch already trained
    are ``iter - epoch x batches per epoch``. The resumed epoch draws the
    same sampler order (its seed and the epoch) and skips them by index,
    so the rest of the epoch gets the batches the uninterrupted run gets,
    in its order (:func:`remaining_batches`); with ``num_workers=0`` the
    random state of the checkpoint makes the augmentations and the
    dropout the same too. At an epoch's start it is MMEngine's loop."""

    def run_epoch(self) -> None:
        start = self._iter - self._epoch * len(self.dataloader)
        if start <= 0:
            return super().run_epoch()
        if start > len(self.dataloader):
            raise ConfigError(
                f'the checkpoint was written at iteration {self._iter} of '
                f'epoch {self._epoch + 1}, beyond its '
                f'{len(self.dataloader)} batches: the batch size or the '
                'dataset changed since; resume from an epoch\'s checkpoint '
                '(checkpoints/checkpoint_epoch_N.pth) instead')
        tell_user(
            f'epoch {self._epoch + 1} continues at batch {start + 1} of '
            f'{len(self.dataloader)}: the first {start} were trained before '
            'the run stopped', self.runner.logger)
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        batches = remaining_batches(self.dataloader, start)
        for idx, data_batch in enumerate(batches, start):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def validation_due(self, epoch: int) -> bool:
        """Whether the loop validates after ``epoch`` epochs done (its
        condition in ``run``)."""
        return (self.runner.val_loop is not None and epoch >= self.val_begin
                and
                (epoch % self.val_interval == 0 or epoch == self._max_epochs))
