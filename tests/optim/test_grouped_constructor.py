"""GroupedOptimWrapperConstructor against MMEngine's
DefaultOptimWrapperConstructor: every parameter's settings, the same training
trajectory, stock optimiser states loading into the groups."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch import nn

from helpers.models import batch, model_cfg, no_dropout
from helpers.runs import MAIN_CONFIG, TINY_CONFIG

register_all_modules()  # mmdet's default scope, as the Runner sets it


def float32_wrapper(cfg) -> dict:
    """The config's optimiser wrapper as MMEngine's plain OptimWrapper:
    its optimiser, clip and constructor, without the AMP and the field
    wrappers' arguments."""
    wrapper_cfg = dict(cfg.optim_wrapper, type='OptimWrapper')
    for key in ('dtype', 'loss_scale', 'clip_separately', 'defer_grad_norm'):
        wrapper_cfg.pop(key, None)
    return wrapper_cfg


def test_grouped_optimiser_keeps_every_parameter_setting():
    cfg = Config.fromfile(MAIN_CONFIG)
    model = MODELS.build(model_cfg(MAIN_CONFIG))
    wrapper_cfg = float32_wrapper(cfg)
    grouped = build_optim_wrapper(model, copy.deepcopy(wrapper_cfg))
    wrapper_cfg.pop('constructor')
    stock = build_optim_wrapper(model, wrapper_cfg)

    def settings(optimizer):
        out = {}
        for group in optimizer.param_groups:
            for p in group['params']:
                out[id(p)] = (group['lr'], group['weight_decay'],
                              group['betas'], group['eps'])
        return out

    assert len(stock.optimizer.param_groups) > 200
    assert len(grouped.optimizer.param_groups) <= 6
    assert settings(grouped.optimizer) == settings(stock.optimizer)
    assert grouped.optimizer.defaults['foreach'] is True  # fused on CUDA
    lrs = {g['lr'] for g in grouped.optimizer.param_groups}
    assert lrs == {1e-4, 1e-5, 4e-4}  # backbone x0.1, ball head x4


def test_grouped_optimiser_trains_like_stock():
    """Three real training steps (tiny DETR, grad clipping, backbone lr
    multiplier) with each constructor: the same parameters."""
    cfg = Config.fromfile(TINY_CONFIG)
    mcfg = no_dropout(model_cfg(TINY_CONFIG))
    wrapper_cfg = float32_wrapper(cfg)
    wrapper_cfg['paramwise_cfg'] = dict(
        custom_keys={'backbone': dict(lr_mult=0.1)}, norm_decay_mult=0.0)
    torch.manual_seed(0)
    models = [MODELS.build(mcfg)]
    models.append(copy.deepcopy(models[0]))
    wrappers = [build_optim_wrapper(models[0], copy.deepcopy(wrapper_cfg))]
    wrapper_cfg.pop('constructor')
    wrappers.append(build_optim_wrapper(models[1], wrapper_cfg))
    assert len(wrappers[0].optimizer.param_groups) < 10
    start = [p.detach().clone() for p in models[0].parameters()]
    for step in range(3):
        inputs, samples = batch(10 + step)
        for model, wrapper in zip(models, wrappers):
            model.train()
            losses = model(inputs, samples, mode='loss')
            wrapper.update_params(sum(losses.values()))
    for (name, a), b in zip(models[0].named_parameters(),
                            models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    moved = max((a - s).abs().max().item()
                for a, s in zip(models[0].parameters(), start))
    assert moved > 1e-5  # the steps changed the weights


def test_optimizer_state_of_a_stock_checkpoint_loads_into_groups():
    """A checkpoint written with one group per parameter (the stock
    constructor) resumes into the merged groups with every parameter's
    moments and step."""
    cfg = Config.fromfile(TINY_CONFIG)
    mcfg = no_dropout(model_cfg(TINY_CONFIG))
    wrapper_cfg = float32_wrapper(cfg)
    wrapper_cfg['paramwise_cfg'] = dict(
        custom_keys={'backbone': dict(lr_mult=0.1)})
    grouped_cfg = copy.deepcopy(wrapper_cfg)
    wrapper_cfg.pop('constructor')
    torch.manual_seed(0)
    model = MODELS.build(mcfg)
    stock = build_optim_wrapper(model, wrapper_cfg)
    inputs, samples = batch(5)
    stock.update_params(sum(model(inputs, samples, mode='loss').values()))
    saved = copy.deepcopy(stock.state_dict())
    assert len(saved['param_groups']) > 50  # one per parameter

    grouped = build_optim_wrapper(model, grouped_cfg)
    grouped.load_state_dict(saved)
    by_param = {
        id(p): (g, p)
        for g in grouped.optimizer.param_groups
        for p in g['params']
    }
    for group in stock.optimizer.param_groups:
        for p in group['params']:
            g, _ = by_param[id(p)]
            assert g['lr'] == group['lr']
            assert g['weight_decay'] == group['weight_decay']
            assert g['foreach'] is True
            a, b = stock.optimizer.state[p], grouped.optimizer.state[p]
            assert a.keys() == b.keys()
            for key in a:
                torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_the_wrapper_clips_its_parts_on_their_own_norm():
    """FieldOptimWrapper(clip_separately=['head']): the head's gradients
    scaled by their own norm, the rest by theirs, the norm logged the
    rest's; with defer_grad_norm it waits on the device for the logger."""
    from mmengine.logging import MessageHub

    from field_detr.optim import FieldOptimWrapper
    model = nn.ModuleDict(dict(body=nn.Linear(4, 4), head=nn.Linear(4, 1)))
    hub = MessageHub.get_instance('separate_clip')
    for defer in (False, True):
        torch.manual_seed(0)
        for p in model.parameters():
            p.grad = torch.randn_like(p) * 10
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        wrapper = build_optim_wrapper(
            model,
            dict(
                type='FieldOptimWrapper',
                optimizer=dict(type='SGD', lr=0.0),
                clip_grad=dict(max_norm=0.1),
                clip_separately=['head'],
                defer_grad_norm=defer,
                constructor='GroupedOptimWrapperConstructor'))
        assert isinstance(wrapper, FieldOptimWrapper)
        wrapper.message_hub = hub
        wrapper.step()
        for part in ('body', 'head'):
            norm = torch.stack([
                g.norm() for n, g in grads.items() if n.startswith(part)
            ]).norm()
            for n, p in model.named_parameters():
                if n.startswith(part):
                    torch.testing.assert_close(p.grad,
                                               grads[n] * 0.1 / (norm + 1e-6))
        body = torch.stack([
            g.norm() for n, g in grads.items() if n.startswith('body')
        ]).norm()
        if defer:
            assert torch.is_tensor(wrapper.pop_grad_norm())
            assert wrapper.pop_grad_norm() is None
        else:
            assert hub.get_scalar('train/grad_norm').current() == \
                pytest.approx(body.item())
