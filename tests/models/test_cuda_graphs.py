"""FieldDETR's CUDA-graph path on the CPU: the trunk it captures gives the
eager model's losses and gradients, and ShapeGraphs's bookkeeping (capture
after a few sightings, a bounded number of graphs, eager otherwise) with a
stand-in capture where CUDA is absent."""
import copy

import pytest
import torch
from mmdet.utils import register_all_modules

from field_detr.models.cuda_graphs import ShapeGraphs
from helpers.models import Lines, batch, built, data_sample, model_cfg
from helpers.runs import SMALL_CONFIG, TINY_CONFIG

register_all_modules()


def build(config, **changes):
    torch.manual_seed(0)
    return built(model_cfg(config, **changes)).train()


def loss_and_grads(model, inputs, samples, seed):
    torch.manual_seed(seed)  # the same dropout masks on both paths
    model.zero_grad(set_to_none=True)
    losses = model.loss(inputs, copy.deepcopy(samples))
    sum(losses.values()).backward()
    grads = {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    return {k: v.detach() for k, v in losses.items()}, grads


class StandIn:
    """A capture that hands back the eager trunk, counting captures."""

    def __init__(self):
        self.captured = []

    def __call__(self, key, args):
        self.captured.append(key)
        return lambda *a: self.trunk(*a)


@pytest.mark.parametrize('config', [SMALL_CONFIG, TINY_CONFIG])
@pytest.mark.parametrize('seed', [0, 1])
def test_graph_path_gives_the_eager_losses_and_gradients(config, seed):
    """Through the trunk (what is captured), the masks made outside it and
    the eager heads: every loss and gradient equal to the eager model's,
    for padded batches and batches without padding (DETR's mask-free
    positional encoding), with and without the head's own stem."""
    model = build(config, gpu=dict(cuda_graph_options=dict(capture_after=1)))
    stand_in = StandIn()
    stand_in.trunk = model.trunk
    for inputs, samples in (batch(seed), batch(seed + 10, n=2)):
        if seed % 2:
            # a batch whose images fill it: no masks
            samples = [
                data_sample((96, 128), (96, 128), s.gt_instances.bboxes,
                            s.gt_instances.labels) for s in samples
            ]
        model._graphs = None
        eager = loss_and_grads(model, inputs, samples, seed)
        graphs = model.use_graphs(stand_in)
        loss_and_grads(model, inputs, samples, seed)  # eager: first sight
        graphed = loss_and_grads(model, inputs, samples, seed)  # "graph"
        assert graphs.stats()['graph_calls'] == 1
        assert graphs.stats()['eager_calls'] == 1
        assert eager[0].keys() == graphed[0].keys()
        for key in eager[0]:
            torch.testing.assert_close(
                graphed[0][key], eager[0][key], rtol=0, atol=0)
        assert eager[1].keys() == graphed[1].keys()
        for name in eager[1]:
            torch.testing.assert_close(
                graphed[1][name], eager[1][name], rtol=1e-6, atol=1e-7)
    if config == TINY_CONFIG:
        assert model.ball_head.reads_image  # the stem's input stays eager


def test_shape_graphs_capture_after_sightings_up_to_a_limit():
    captured, calls = [], []

    def capture(key, args):
        captured.append(key)
        return lambda x: ('graph', key, x)

    def eager(x):
        calls.append(x)
        return ('eager', x)

    graphs = ShapeGraphs(capture, capture_after=2, max_graphs=2)
    for key in 'aab':
        assert graphs((key, ), eager, key)[0] == 'eager'
    assert captured == []
    # the third sighting of a captures it and replays it from then on
    assert graphs(('a', ), eager, 'a') == ('graph', ('a', ), 'a')
    assert graphs(('a', ), eager, 'a')[0] == 'graph'
    for _ in range(2):
        graphs(('b', ), eager, 'b')
    assert captured == [('a', ), ('b', )]
    # a third shape: the limit is reached, it stays eager
    for _ in range(5):
        assert graphs(('c', ), eager, 'c')[0] == 'eager'
    assert captured == [('a', ), ('b', )]
    stats = graphs.stats()
    assert stats['graphs'] == 2 and stats['eager_calls'] == 3 + 1 + 5
    assert stats['graph_calls'] == 2 + 1


def test_cuda_graphs_switch_is_off_on_a_cpu_with_one_line():
    from mmengine.logging import MMLogger
    model = build(SMALL_CONFIG, gpu=dict(cuda_graphs=True))
    inputs, samples = batch(0)
    logger = MMLogger.get_instance('cuda_graphs_test')  # the current logger
    handler = Lines()
    logger.addHandler(handler)
    try:
        eager = loss_and_grads(model, inputs, samples, 0)
        loss_and_grads(model, inputs, samples, 0)
    finally:
        logger.removeHandler(handler)
    lines = [m for m in handler.lines if 'CUDA graphs are off' in m]
    assert lines == [
        'CUDA graphs are off: the model is not on a GPU; '
        'the step runs eager'
    ]
    assert model._graphs is None and not model.cuda_graphs
    assert all(torch.isfinite(v) for v in eager[0].values())
