"""FieldRuntimeInfoHook with a Mock runner, a real optimiser wrapper and
message hub: ``lr`` is the transformer's group, ``backbone_lr`` the
backbone's, whatever the order of the groups."""
from unittest.mock import Mock

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from torch import nn

from field_detr.hooks import FieldRuntimeInfoHook
from helpers.runs import scalars, train


class Detector(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 2)
        self.bbox_head = nn.Linear(2, 2)


def _runner(groups, hub_name):
    runner = Mock()
    runner.model = model = Detector()
    parts = dict(backbone=model.backbone, bbox_head=model.bbox_head)
    optimizer = torch.optim.AdamW([
        dict(params=list(parts[name].parameters()), lr=lr)
        for name, lr in groups
    ])
    runner.optim_wrapper = OptimWrapper(optimizer)
    runner.message_hub = MessageHub.get_instance(hub_name)
    runner.iter = 0
    return runner


@pytest.mark.parametrize('order', ['backbone first', 'head first'])
def test_lr_is_the_transformers_and_backbone_lr_the_backbones(order):
    groups = [('backbone', 1e-5), ('bbox_head', 1e-4)]
    if order == 'head first':
        groups.reverse()
    runner = _runner(groups, f'runtime_info_{order}')
    hook = FieldRuntimeInfoHook()
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=0)
    hub = runner.message_hub
    assert hub.get_scalar('train/lr').current() == pytest.approx(1e-4)
    assert hub.get_scalar('train/backbone_lr').current() == pytest.approx(1e-5)


def test_one_group_logs_as_mmengine_does():
    runner = _runner([('bbox_head', 1e-4)], 'runtime_info_one_group')
    # the backbone's parameters are not in the optimiser (frozen)
    hook = FieldRuntimeInfoHook()
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=0)
    assert runner.message_hub.get_scalar('train/lr').current() == \
        pytest.approx(1e-4)
    assert 'train/backbone_lr' not in runner.message_hub.log_scalars


def test_deferred_reads_log_the_same_values(demo_data, tmp_path):
    """The losses and the gradient norm read once per logging interval
    (the default) log exactly what MMEngine's per-iteration reads log:
    the same records, window means and all."""
    logged = {}
    for defer in (False, True):
        work_dir = str(tmp_path / f'defer_{defer}')
        train(
            work_dir,
            data=demo_data,
            options=[
                'train_cfg.max_epochs=2', 'default_hooks.logger.interval=4',
                f'default_hooks.runtime_info.defer_scalars={defer}'
            ])
        logged[defer] = [{
            k: v
            for k, v in r.items() if 'loss' in k or k in ('grad_norm', 'lr')
        } for r in scalars(work_dir) if 'loss' in r]
    assert len(logged[True]) == 2  # one record per epoch (interval 4 > 3)
    assert 'grad_norm' in logged[True][0]
    assert logged[True] == logged[False]
