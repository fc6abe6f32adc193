"""The warm-up + cosine schedule follows the run's length on every config
(MMEngine's Runner ends a scheduler without ``end`` at max_epochs), and a
schedule that cannot follow is refused with one line."""
import glob
import math
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader

from field_detr.errors import ConfigError
from field_detr.runtime import check_schedule, set_epochs
from helpers.runs import ROOT, run_tool

CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', '*.py')) +
    glob.glob(osp.join(ROOT, 'tests', 'configs', '*.py')))
ITERS_PER_EPOCH = 3


def learning_rates(cfg: Config, tmp_path) -> list:
    """The learning rate of every iteration of a run of ``cfg``'s
    ``train_cfg`` and ``param_scheduler``, as MMEngine's Runner builds and
    steps them (a one-parameter model, SGD at lr 1, 3 batches an epoch)."""
    runner = Runner(
        model=nn.Linear(1, 1),
        work_dir=str(tmp_path),
        train_dataloader=DataLoader(list(range(ITERS_PER_EPOCH))),
        train_cfg=dict(cfg.train_cfg),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=1.0)),
        param_scheduler=[dict(s) for s in cfg.param_scheduler],
        default_scope='mmdet')  # as the project's runs (and the tests after)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    schedulers = runner.build_param_scheduler(runner.param_schedulers)
    lrs = []
    for _ in range(runner.max_iters):
        lrs.append(runner.optim_wrapper.get_lr()['lr'][0])
        for scheduler in schedulers:
            scheduler.step()
    return lrs


def warmup_iters(cfg: Config) -> int:
    warmup = cfg.param_scheduler[0]
    per_epoch = ITERS_PER_EPOCH if warmup.get('by_epoch', True) else 1
    return warmup['end'] * per_epoch


@pytest.mark.parametrize(
    'config', CONFIGS, ids=[osp.basename(c) for c in CONFIGS])
def test_epochs_stretch_the_cosine_on_every_config(config, tmp_path):
    """``--epochs N``: the cosine reaches its floor at the run's last
    iteration, for N shorter and longer than the config's; warm-up as
    configured."""
    cfg = Config.fromfile(config)
    check_schedule(cfg)  # the config as shipped
    eta_min = cfg.param_scheduler[-1].eta_min
    for epochs in (cfg.train_cfg.max_epochs, 12, 125):
        if epochs * ITERS_PER_EPOCH > 3000:
            continue  # (the 1000-epoch sanity config: as shipped only)
        set_epochs(cfg, epochs)
        check_schedule(cfg)
        lrs = learning_rates(cfg, tmp_path / str(epochs))
        assert len(lrs) == epochs * ITERS_PER_EPOCH
        begin = cfg.param_scheduler[-1].begin * ITERS_PER_EPOCH
        if begin == warmup_iters(cfg):
            # the warm-up ends at the full rate, whatever the run's length,
            # and the cosine takes it from there down
            assert lrs[begin] == pytest.approx(1.0, rel=0.02)
        cosine = lrs[max(begin, warmup_iters(cfg)):]
        assert all(b <= a + 1e-12 for a, b in zip(cosine, cosine[1:]))
        # the run's last iteration is the cosine's last step before its
        # floor: the cosine spans the run from its begin
        n = len(lrs) - begin
        floor = eta_min + (1 - eta_min) * (1 + math.cos(math.pi *
                                                        (n - 1) / n)) / 2
        assert lrs[-1] == pytest.approx(floor, rel=1e-3)


def test_a_run_within_the_warmup_leaves_the_cosine_out(tmp_path):
    """A one-epoch smoke run of a config with one warm-up epoch: the cosine
    has no room and is left out (MMEngine would refuse it), the warm-up
    runs as configured."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'dino_small_field.py'))
    set_epochs(cfg, 1)
    check_schedule(cfg)
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR']
    lrs = learning_rates(cfg, tmp_path)
    assert len(lrs) == ITERS_PER_EPOCH and lrs == sorted(lrs)
    assert lrs[0] == pytest.approx(0.01)


def test_a_fixed_end_is_refused_when_the_run_is_longer():
    """A config whose cosine names its own end (MMEngine's usual style)
    with a longer run: one line, not 119 epochs at the floor rate."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'dino_r50_field_demo.py'))
    cfg.param_scheduler[1].end = 6
    cfg.merge_from_dict({'train_cfg.max_epochs': 125})
    with pytest.raises(ConfigError) as e:
        check_schedule(cfg)
    assert str(e.value) == (
        'param_scheduler[1] (CosineAnnealingLR) ends at epoch 6, but the '
        'run has 125 epochs: remove its end (and T_max) so that it ends '
        'with the run, or set them to the run\'s length')


def test_a_run_shorter_than_the_warmup_is_refused(tmp_path):
    """From the command line: the main config's 5 warm-up epochs in a
    3-epoch run; one line naming the scheduler, nothing built, no work
    dir."""
    work_dir = str(tmp_path / 'work')
    proc = run_tool(
        'train.py',
        osp.join(ROOT, 'configs', 'detr_r50_field.py'),
        '--epochs',
        '3',
        '--work-dir',
        work_dir,
        check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].endswith(
        'param_scheduler[0] (LinearLR) ends at epoch 5, but the run has 3 '
        'epochs: remove its end (and T_max) so that it ends with the run, '
        'or set them to the run\'s length')
    assert not osp.exists(work_dir)
