"""FieldDETR (SDPA attention) against MMDetection's DETR: same outputs,
gradients, parameter names; fewer dispatched ops and no host syncs."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from torch import nn

from field_detr.models import SDPAMultiheadAttention
from helpers.models import assert_same_step, batch, model_cfg, no_dropout
from helpers.runs import DEMO_CONFIG, MAIN_CONFIG, TINY_CONFIG

register_all_modules()  # mmdet's default scope, as the Runner sets it


def stock_cfg(cfg):
    cfg = copy.deepcopy(cfg)
    cfg.type = 'DETR'
    for field_only in ('attention', 'ball_head', 'gpu'):
        cfg.pop(field_only, None)
    cfg.data_preprocessor.type = 'DetDataPreprocessor'
    cfg.bbox_head.type = 'DETRHead'
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


def test_field_detr_loss_dispatches_fewer_ops_and_no_syncs():
    """What bench_train_step.py --profile counts, on the CPU: the ops that
    would make the host wait for a GPU (.item(), nonzero, unique, ...) and all
    aten ops of one loss forward + backward, batch 8; the ball head's
    loss adds no sync either."""
    from mmengine.optim import OptimWrapper
    from op_counts import count_ops

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
