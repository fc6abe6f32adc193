"""The aten ops one training step dispatches, and those that make the host
wait for a GPU.

``count_ops`` counts, with a ``TorchDispatchMode``, the aten ops one loss
forward + backward dispatches and those among them that make the host wait
for a GPU (``.item()``/``_local_scalar_dense``, ``nonzero``, ``unique``,
``masked_select``, device-to-host copies). On a CPU nothing waits, but the
same ops are dispatched, so the counts compare code paths on any machine.
On CUDA ``count_cuda_syncs`` also counts the synchronisations the driver
sees (``torch.cuda.set_sync_debug_mode``) in whole training steps.
"""
import warnings
from collections import Counter
from typing import Optional

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# ops whose result the host must read (a wait for the GPU on CUDA)
SYNC_OPS = frozenset({
    '_local_scalar_dense', 'nonzero', 'nonzero_static', 'unique', '_unique',
    '_unique2', 'unique_dim', 'unique_consecutive', 'masked_select',
    'is_nonzero', 'repeat_interleave'
})


def _is_device_to_host(func, args, kwargs) -> bool:
    name = func.__name__.split('.')[0]
    if name not in ('_to_copy', 'copy_'):
        return False
    src = args[1] if name == 'copy_' else args[0]
    dst_cpu = (
        args[0].device.type == 'cpu' if name == 'copy_' else str(
            kwargs.get('device', src.device)) == 'cpu')
    return isinstance(src, torch.Tensor) and src.device.type != 'cpu' \
        and dst_cpu


class OpCounter(TorchDispatchMode):
    """Counts the aten ops dispatched inside it and, among them, those that
    synchronise the host with the device (see ``SYNC_OPS``)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self.syncs = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.ops += 1
        name = func.__name__.split('.')[0]
        if name in SYNC_OPS:
            self.syncs[name] += 1
        elif _is_device_to_host(func, args, kwargs):
            self.syncs['device_to_host_copy'] += 1
        return func(*args, **kwargs)


def count_ops(model, data: dict, optim_wrapper) -> dict:
    """Aten ops and syncing ops of one loss forward + backward of
    ``model`` on ``data`` (a loader batch), under the wrapper's precision
    context. The optimiser step is not included."""
    model.train()
    data = model.data_preprocessor(data, True)
    with optim_wrapper.optim_context(model), OpCounter() as counter:
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return dict(
        aten_ops=counter.ops,
        sync_ops=sum(counter.syncs.values()),
        sync_ops_by_name=dict(counter.syncs))


def count_cuda_syncs(step,
                     steps: int = 3,
                     sites: Optional[dict] = None) -> float:
    """Host-device synchronisations per call of ``step()`` as the CUDA
    driver sees them (``torch.cuda.set_sync_debug_mode('warn')``). With
    ``sites`` (a dict), also where they come from: ``'file:line'`` of the
    Python call that synchronised, per step, added to it."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            for _ in range(steps):
                step()
        finally:
            torch.cuda.set_sync_debug_mode('default')
    syncs = [w for w in caught if 'synchroniz' in str(w.message)]
    if sites is not None:
        for w in syncs:
            site = f'{w.filename}:{w.lineno}'
            sites[site] = sites.get(site, 0) + 1 / steps
    return len(syncs) / steps


def profile_table(step, steps: int = 3, rows: int = 15) -> str:
    """``torch.profiler`` table of the ops that took the most time over
    ``steps`` calls of ``step()``."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    sort = 'self_cpu_time_total'
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
        sort = 'self_cuda_time_total'
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    return prof.key_averages().table(sort_by=sort, row_limit=rows)
