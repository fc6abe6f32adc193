"""FastDETRHead against MMDetection's stock DETRHead on the same inputs:
the same Hungarian assignments, loss terms and gradients.

The heads are built from the main config's ``bbox_head`` (only ``type``
differs), share one set of weights, and see the same decoder outputs and
ground truth: random boxes, images with no box, one box, duplicate boxes
and more boxes than usual, images of different sizes, in float32 and under
CPU bfloat16 autocast.
"""
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.config import Config
from mmengine.structures import InstanceData

import field_detr  # noqa: F401  (registers FastDETRHead)
from helpers.runs import ROOT

NUM_LAYERS, NUM_QUERIES = 6, 100


def head_pair():
    cfg = Config.fromfile(f'{ROOT}/configs/detr_r50_field.py')
    head_cfg = cfg.model.bbox_head
    assert head_cfg.type == 'FastDETRHead'  # the main config uses it
    fast = MODELS.build(head_cfg)
    stock = MODELS.build(dict(head_cfg, type='DETRHead'))
    assert type(stock).__name__ == 'DETRHead'
    stock.load_state_dict(fast.state_dict())
    return fast, stock


def random_boxes(rng, n, w, h):
    x1 = rng.uniform(0, w - 8, n)
    y1 = rng.uniform(0, h - 8, n)
    bw = rng.uniform(2, w - x1)
    bh = rng.uniform(2, h - y1)
    return np.stack([x1, y1, x1 + bw, y1 + bh], 1)


def random_samples(rng, counts):
    samples = []
    for count in counts:
        h, w = int(rng.integers(300, 801)), int(rng.integers(300, 1334))
        boxes = random_boxes(rng, count, w, h)
        labels = rng.integers(0, 2, count)
        if count >= 3:  # a duplicate box (same label), the ambiguous case
            boxes[1], labels[1] = boxes[0], labels[0]
        sample = DetDataSample(
            metainfo=dict(img_shape=(h, w), batch_input_shape=(800, 1333)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            labels=torch.tensor(labels, dtype=torch.long))
        samples.append(sample)
    return samples


CASES = {
    'mixed': [0, 1, 5, 23],
    'one_box_each': [1, 1],
    'no_boxes': [0, 0, 0],
    'many_boxes': [60, 2, 0, 37, 11, 4, 1, 9],
    'duplicates': [3, 3, 4],
}


def run_loss(head, hidden, samples):
    hidden = hidden.detach().clone().requires_grad_(True)
    head.zero_grad()
    losses = head.loss(hidden, samples)
    sum(losses.values()).backward()
    grads = {
        n: p.grad.clone()
        for n, p in head.named_parameters() if p.grad is not None
    }
    return losses, hidden.grad, grads


def stock_assignments(stock, hidden, samples):
    """Stock DETRHead's assignment of every (layer, image), exactly as its
    ``_get_targets_single`` calls the assigner."""
    with torch.no_grad():
        cls_scores, bbox_preds = stock(hidden)
    out = np.full((NUM_LAYERS, len(samples), NUM_QUERIES), -1)
    for layer in range(NUM_LAYERS):
        for i, sample in enumerate(samples):
            h, w = sample.metainfo['img_shape']
            factor = bbox_preds.new_tensor([w, h, w, h]).unsqueeze(0)
            pred = InstanceData(
                scores=cls_scores[layer, i],
                bboxes=bbox_cxcywh_to_xyxy(bbox_preds[layer, i]) * factor)
            result = stock.assigner.assign(
                pred, sample.gt_instances, img_meta=sample.metainfo)
            out[layer, i] = result.gt_inds.numpy() - 1
    return out


def fast_assignments(fast, hidden, samples):
    with torch.no_grad():
        cls_scores, bbox_preds = fast(hidden)
    targets = fast.batched_targets(cls_scores, bbox_preds,
                                   [s.gt_instances for s in samples],
                                   [s.metainfo for s in samples])
    return targets['assignment']


def compare(seed, counts, autocast, tol):
    fast, stock = head_pair()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    samples = random_samples(rng, counts)
    hidden = torch.randn(NUM_LAYERS, len(counts), NUM_QUERIES, fast.embed_dims)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        np.testing.assert_array_equal(
            fast_assignments(fast, hidden, samples),
            stock_assignments(stock, hidden, samples))
        fast_out = run_loss(fast, hidden, samples)
        stock_out = run_loss(stock, hidden, samples)
    fast_losses, fast_hidden_grad, fast_grads = fast_out
    stock_losses, stock_hidden_grad, stock_grads = stock_out
    assert list(fast_losses) == list(stock_losses)
    worst = 0.0
    for name in stock_losses:
        a, b = fast_losses[name], stock_losses[name]
        assert a.dtype == b.dtype, name
        worst = max(worst, (a.float() - b.float()).abs().item())
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=name)
    torch.testing.assert_close(
        fast_hidden_grad, stock_hidden_grad, rtol=tol, atol=tol)
    assert fast_grads.keys() == stock_grads.keys()
    for name in stock_grads:
        torch.testing.assert_close(
            fast_grads[name], stock_grads[name], rtol=tol, atol=tol, msg=name)
    return worst


# The costs, targets and loss terms are computed with the stock operations
# in the stock order, so losses and gradients are bit-equal (tolerance 0),
# in float32 and under bfloat16 autocast alike.


@pytest.mark.parametrize('case', sorted(CASES))
def test_same_matching_losses_and_gradients_fp32(case):
    for seed in range(6):
        assert compare(seed, CASES[case], autocast=False, tol=0) == 0.0


@pytest.mark.parametrize('case', ['mixed', 'many_boxes', 'no_boxes'])
def test_same_matching_losses_and_gradients_bf16_autocast(case):
    for seed in range(4):
        assert compare(100 + seed, CASES[case], autocast=True, tol=0) == 0.0


def test_random_batches_many_seeds():
    rng = np.random.default_rng(7)
    for seed in range(40):
        counts = rng.integers(0, 30, int(rng.integers(1, 9))).tolist()
        compare(1000 + seed, counts, autocast=False, tol=0)


def test_unsupported_settings_use_the_stock_loss():
    fast, stock = head_pair()
    assert fast.batched_loss_supported()
    fast.assigner.match_costs.append(object())
    assert not fast.batched_loss_supported()
