"""One CUDA graph per input shape for the DETR's trunk (backbone, neck,
encoder, decoder: forward and backward), the loss and matching eager.

A DETR step dispatches thousands of small kernels from the host; replaying
a captured graph dispatches them in one call. A graph holds one input
shape, so the data preprocessor's ``canvases`` keep the shapes few. The
trunk is captured with ``torch.cuda.make_graphed_callables`` on the
``capture_after``-th batch of a shape (its first ones run eager: a shape
seen once or twice is not worth a capture), all graphs in one shared memory
pool, at most ``max_graphs`` of them; any other shape runs eager.
"""
import time
from collections import Counter
from typing import Callable, Hashable, Optional

import torch
from mmengine.logging import MMLogger


class ShapeGraphs:
    """Graphs by key (the input's shape, dtype, precision), captured on
    demand.

    Args:
        capture (callable): ``capture(key, args) -> callable``, the graph of
            the eager function for inputs like ``args``.
        capture_after (int): eager calls of a key before it is captured.
            Defaults to 2.
        max_graphs (int): graphs kept; later keys run eager. Defaults to 8.
    """

    def __init__(self,
                 capture: Callable,
                 capture_after: int = 2,
                 max_graphs: int = 8) -> None:
        self.capture = capture
        self.capture_after = capture_after
        self.max_graphs = max_graphs
        self.graphs = {}
        self.sightings = Counter()
        self.capture_s = 0.0
        self.graph_calls = self.eager_calls = 0

    def __call__(self, key: Hashable, eager: Callable, *args):
        graph = self.graphs.get(key)
        if graph is None:
            self.sightings[key] += 1
            if (self.sightings[key] > self.capture_after
                    and len(self.graphs) < self.max_graphs):
                start = time.perf_counter()
                graph = self.graphs[key] = self.capture(key, args)
                took = time.perf_counter() - start
                self.capture_s += took
                MMLogger.get_current_instance().info(
                    f'CUDA graph {len(self.graphs)} of at most '
                    f'{self.max_graphs} captured for input {key[0]} in '
                    f'{took:.1f} s')
        if graph is None:
            self.eager_calls += 1
            return eager(*args)
        self.graph_calls += 1
        return graph(*args)

    def stats(self) -> dict:
        return dict(
            graphs=len(self.graphs),
            shapes_seen=len(self.sightings),
            graph_calls=self.graph_calls,
            eager_calls=self.eager_calls,
            capture_s=self.capture_s)


def cuda_graph_capture(make_module: Callable[[], torch.nn.Module],
                       warmup_iters: int = 3) -> Callable:
    """A ``capture`` for :class:`ShapeGraphs`: ``make_graphed_callables``
    of a new ``make_module()`` (it replaces the module's ``forward``, so
    each shape gets its own module over the same parameters) under the
    current autocast setting with its weight cache off, as capture
    requires; every graph in one memory pool."""
    pool = torch.cuda.graph_pool_handle()

    def capture(key, args):
        sample = tuple(a.detach().clone() for a in args)
        enabled = torch.is_autocast_enabled('cuda')
        dtype = torch.get_autocast_dtype('cuda')
        with torch.autocast(
                'cuda', dtype=dtype, enabled=enabled, cache_enabled=False):
            return torch.cuda.make_graphed_callables(
                make_module(),
                sample,
                num_warmup_iters=warmup_iters,
                allow_unused_input=True,
                pool=pool)

    return capture


def graph_key(inputs: torch.Tensor,
              masks: Optional[torch.Tensor] = None) -> tuple:
    """What a graph is captured for: the input's shape and dtype, whether
    the batch has padding (masks), and the autocast precision."""
    autocast = (
        torch.get_autocast_dtype('cuda')
        if inputs.is_cuda and torch.is_autocast_enabled('cuda') else None)
    return (tuple(inputs.shape), inputs.dtype, masks is not None, autocast)
