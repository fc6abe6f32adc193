"""FieldDETR (SDPA attention) and GroupedOptimWrapperConstructor against
MMDetection's DETR and MMEngine's DefaultOptimWrapperConstructor: same
outputs, gradients, parameter names and training trajectory."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch import nn

from field_detr.models import SDPAMultiheadAttention
from helpers.models import assert_same_step, batch, model_cfg
from helpers.runs import DEMO_CONFIG, MAIN_CONFIG, TINY_CONFIG

register_all_modules()  # mmdet's default scope, as the Runner sets it


def stock_cfg(cfg):
    cfg = copy.deepcopy(cfg)
    cfg.type = 'DETR'
    for field_only in ('attention', 'ball_head', 'cuda_graphs'):
        cfg.pop(field_only, None)
    cfg.data_preprocessor.type = 'DetDataPreprocessor'
    cfg.bbox_head.type = 'DETRHead'
    return cfg


def no_dropout(cfg):
    for coder in ('encoder', 'decoder'):
        layer = cfg[coder].layer_cfg
        for attn in ('self_attn_cfg', 'cross_attn_cfg'):
            if attn in layer:
                layer[attn].dropout = 0.0
        layer.ffn_cfg.ffn_drop = 0.0
    return cfg


def test_main_config_builds_field_classes():
    cfg = Config.fromfile(MAIN_CONFIG)
    assert cfg.model.type == 'FieldDETR'
    assert cfg.model.attention == 'sdpa'
    assert cfg.model.bbox_head.type == 'FastDETRHead'
    assert cfg.optim_wrapper.constructor == 'GroupedOptimWrapperConstructor'
    model = MODELS.build(model_cfg(MAIN_CONFIG))
    attns = [
        m for m in model.modules() if isinstance(m, nn.MultiheadAttention)
    ]
    assert len(attns) == 6 + 2 * 6
    assert all(type(m) is SDPAMultiheadAttention for m in attns)


@pytest.mark.parametrize('config', [TINY_CONFIG, DEMO_CONFIG])
def test_sdpa_attention_equals_stock_and_checkpoints_load_both_ways(config):
    cfg = no_dropout(model_cfg(config, ball_head=None))
    torch.manual_seed(0)
    field = MODELS.build(cfg)
    stock = MODELS.build(stock_cfg(cfg))
    # same parameter names: a checkpoint of either loads into the other
    assert field.state_dict().keys() == stock.state_dict().keys()
    stock.load_state_dict(field.state_dict(), strict=True)
    field2 = MODELS.build(cfg)
    field2.load_state_dict(stock.state_dict(), strict=True)

    inputs, samples = batch(1)
    for model in (field, stock):
        model.eval()
    with torch.no_grad():
        out_field = field(inputs, samples, mode='tensor')
        out_stock = stock(inputs, samples, mode='tensor')
    for a, b in zip(out_field, out_stock):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)

    # training: losses and every gradient
    results = []
    for model in (field, stock):
        model.train()
        model.zero_grad()
        losses = model(inputs, samples, mode='loss')
        sum(losses.values()).backward()
        results.append((losses, {
            n: p.grad
            for n, p in model.named_parameters() if p.grad is not None
        }))
    assert_same_step(*results)


def test_grouped_optimiser_keeps_every_parameter_setting():
    cfg = Config.fromfile(MAIN_CONFIG)
    model = MODELS.build(model_cfg(MAIN_CONFIG))
    wrapper_cfg = dict(cfg.optim_wrapper, type='OptimWrapper')
    wrapper_cfg.pop('dtype'), wrapper_cfg.pop('loss_scale')
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
    wrapper_cfg = dict(cfg.optim_wrapper, type='OptimWrapper')
    wrapper_cfg.pop('dtype', None), wrapper_cfg.pop('loss_scale', None)
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


def test_field_detr_loss_dispatches_fewer_ops_and_no_syncs():
    """What bench_train_step.py --profile counts, on the CPU: the ops that
    would make the host wait for a GPU (.item(), nonzero, unique, ...) and all
    aten ops of one loss forward + backward, batch 8; the ball head's
    loss adds no sync either."""
    from mmengine.optim import OptimWrapper

    from field_detr.utils.benchmark import count_ops

    cfg = model_cfg(MAIN_CONFIG, ball_head=None)
    torch.manual_seed(0)
    field = MODELS.build(cfg)
    stock = MODELS.build(stock_cfg(cfg))
    stock.load_state_dict(field.state_dict())
    with_head = MODELS.build(model_cfg(MAIN_CONFIG))
    inputs, samples = batch(3, n=8, size=(96, 160))
    data = dict(
        inputs=list((inputs * 50 + 120).clamp(0, 255).to(torch.uint8)),
        data_samples=samples)
    counts = {}
    for name, model in (('field', field), ('stock', stock), ('with_head',
                                                             with_head)):
        wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))
        counts[name] = count_ops(model, copy.deepcopy(data), wrapper)
    # stock: per layer and image nonzero x2 + unique x2, per layer .item()
    # and two torch.any() reads: 6 * (4 * 8 + 3) = 210
    assert counts['stock']['sync_ops'] == 210, counts['stock']
    assert counts['field']['sync_ops'] == 0, counts['field']
    assert counts['with_head']['sync_ops'] == 0, counts['with_head']
    assert counts['field']['aten_ops'] <= 0.5 * counts['stock']['aten_ops']


def test_optimizer_state_of_a_stock_checkpoint_loads_into_groups():
    """A checkpoint written with one group per parameter (the stock
    constructor) resumes into the merged groups with every parameter's
    moments and step."""
    cfg = Config.fromfile(TINY_CONFIG)
    mcfg = no_dropout(model_cfg(TINY_CONFIG))
    wrapper_cfg = dict(cfg.optim_wrapper, type='OptimWrapper')
    wrapper_cfg.pop('dtype', None), wrapper_cfg.pop('loss_scale', None)
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
