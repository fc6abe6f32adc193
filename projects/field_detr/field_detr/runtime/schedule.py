"""The schedule follows the length of the run.

The configs' cosine names no ``end``: MMEngine's Runner ends a scheduler
without one at ``train_cfg.max_epochs`` (``T_max`` then being ``end -
begin``), so ``--epochs N`` or an override of ``train_cfg.max_epochs``
stretches the warm-up + cosine schedule to the run, as Ultralytics' and
RF-DETR's ``epochs`` do. A schedule that cannot follow (a scheduler with an
``end`` of its own that stops before or runs past the run's last epoch)
is refused with one line before anything is
built, instead of training the rest at the floor rate silently.
"""
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

from ..errors import ConfigError, InputError


def set_epochs(cfg: Config, epochs: Optional[int]) -> None:
    """``--epochs N``: train N epochs, the schedule stretched to them."""
    if epochs is None:
        return
    if epochs < 1:
        raise InputError(f'--epochs must be at least 1, not {epochs}')
    cfg.train_cfg.max_epochs = epochs
    val = cfg.train_cfg.get('val_interval', 1)
    if val > epochs:  # validate (and keep a best model) at the end at least
        cfg.train_cfg.val_interval = epochs


def check_schedule(cfg: Config) -> None:
    """Fit ``param_scheduler`` to the run or refuse it with one line.

    A run that ends within the warm-up (a smoke test of an epoch or two)
    has no room for the schedulers that begin after it: they are left out,
    with a log line (MMEngine would refuse a scheduler whose default end is
    its begin). Then the epoch-based scheduler that ends last must end with
    the run: one that names an ``end`` of its own other than
    ``train_cfg.max_epochs`` (a cosine that stops early, a warm-up longer
    than the run) is refused."""
    train_cfg = cfg.get('train_cfg') or {}
    epochs = train_cfg.get('max_epochs')
    schedulers = cfg.get('param_scheduler')
    if epochs is None or not schedulers:
        return  # iteration-based loops and scheduler-less configs
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    late = [
        s for s in schedulers
        if s.get('by_epoch', True) and s.get('begin', 0) >= epochs
    ]
    if late:
        schedulers = [s for s in schedulers if s not in late]
        cfg.param_scheduler = schedulers
        print_log(
            f'the run ends within the warm-up ({epochs} epochs): ' +
            ', '.join(s.get('type', '?') for s in late) + ' left out',
            logger='current')
    ends = []
    for i, scheduler in enumerate(schedulers):
        if not scheduler.get('by_epoch', True):
            continue
        where = f'param_scheduler[{i}] ({scheduler.get("type")})'
        end = scheduler.get('end')
        ends.append((epochs if end is None else end, where))
    if not ends:
        return
    last, where = max(ends, key=lambda e: e[0])
    if last != epochs:
        raise ConfigError(
            f'{where} ends at epoch {last}, but the run has {epochs} '
            f'epochs: remove its end (and T_max) so that it ends with the '
            'run, or set them to the run\'s length')
