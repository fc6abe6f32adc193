"""A run's training-log curves and training time, read from MMEngine's
JSON-lines log; the functions return the data they plot, so it can be
checked (and reused) without reading pixels."""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Sequence

import numpy as np

from .metric_names import metric_name


def load_scalars(path: str) -> List[dict]:
    """Records of an MMEngine JSON-lines log (``vis_data/scalars.json``)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def curve(records: List[dict], key: str):
    """``(steps, values)`` of ``key``; ``key`` may be MMEngine's name
    (``loss``, ``coco/bbox_mAP``) or ours (``train_loss``, ``val_map``)."""
    steps, values = [], []
    for r in records:
        for k, v in r.items():
            if k == key or metric_name(k, any(
                    n.startswith('coco/') for n in r)) == key:
                steps.append(r.get('step', r.get('iter')))
                values.append(v)
                break
    return np.array(steps), np.array(values, dtype=float)


def plot_curves(logs: Sequence[str],
                keys: Sequence[str],
                out: str,
                title: str = None) -> Dict[str, Dict[str, tuple]]:
    """One subplot per key, one line per log; saved as PNG to ``out``.

    Returns ``{log: {key: (steps, values)}}``, the data drawn.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    data = OrderedDict()
    for log in logs:
        records = load_scalars(log)
        data[log] = OrderedDict((k, curve(records, k)) for k in keys)
    fig, axes = plt.subplots(
        len(keys), 1, figsize=(8, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for log, series in data.items():
            steps, values = series[key]
            if len(values):
                ax.plot(
                    steps,
                    values,
                    marker='.' if len(values) < 30 else None,
                    label=_short(log))
        ax.set_title(metric_name(key) if key in ('loss', 'lr') else key)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        if len(logs) > 1:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return data


def _short(path: str) -> str:
    parts = osp.normpath(path).split(osp.sep)
    return osp.join(*parts[-4:-2]) if len(parts) > 3 else path


def train_time(log: str) -> Dict[str, float]:
    """Per-iteration time statistics of a training log (seconds), like
    mmdet's ``analyze_logs.py cal_train_time``."""
    records = [r for r in load_scalars(log) if 'time' in r and 'loss' in r]
    if not records:
        raise ValueError(f'{log}: no training iterations with "time"')
    times = np.array([r['time'] for r in records])
    epochs = OrderedDict()
    for r in records:
        epochs.setdefault(r.get('epoch', 0), []).append(r['time'])
    per_epoch = {e: float(np.mean(t)) for e, t in epochs.items()}
    slowest = max(per_epoch, key=per_epoch.get)
    fastest = min(per_epoch, key=per_epoch.get)
    return dict(
        mean=float(times.mean()),
        std=float(times.std()),
        iterations=len(times),
        slowest_epoch=slowest,
        slowest_epoch_time=per_epoch[slowest],
        fastest_epoch=fastest,
        fastest_epoch_time=per_epoch[fastest])
