"""Training-log curves, training time, PR curves and a confusion matrix.

Functions return the data they plot, so it can be checked (and reused)
without reading pixels.
"""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Sequence

import numpy as np

from ..tracking.metric_names import metric_name


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


def _xyxy(box):
    x, y, w, h = box
    return [x, y, x + w, y + h]


def confusion_matrix(results: List[dict],
                     ann_file: str,
                     score_thr: float = 0.5,
                     iou_thr: float = 0.5) -> Dict[str, object]:
    """Rows: ground-truth class then "background" (false positives);
    columns: predicted class then "background" (missed objects).

    Detections above ``score_thr`` are matched greedily by score to the
    unmatched ground truth of highest IoU (any class) above ``iou_thr``
    (IoU by mmdet's ``bbox_overlaps``).
    """
    from mmdet.evaluation.functional import bbox_overlaps

    from ..datasets.validation import load_coco_split
    split = load_coco_split(ann_file, check_images=False)
    classes = list(split.classes)
    label_of = dict(zip(split.cat_ids, range(len(classes))))
    n = len(classes)
    matrix = np.zeros((n + 1, n + 1), dtype=np.int64)
    dets_by_img = {}
    for d in results:
        if d['score'] >= score_thr:
            dets_by_img.setdefault(d['image_id'], []).append(d)
    for img in split.images:
        gts = split.anns_by_image[img['id']]
        gt_boxes = np.array([_xyxy(g['bbox']) for g in gts]).reshape(-1, 4)
        dets = sorted(
            dets_by_img.get(img['id'], []), key=lambda d: -d['score'])
        det_boxes = np.array([_xyxy(d['bbox']) for d in dets]).reshape(-1, 4)
        iou = bbox_overlaps(det_boxes, gt_boxes)
        matched = np.zeros(len(gts), dtype=bool)
        for i, d in enumerate(dets):
            pred = label_of.get(d['category_id'])
            if pred is None:
                continue
            cand = np.where(~matched & (iou[i] >= iou_thr))[0] \
                if len(gts) else []
            if len(cand):
                j = cand[np.argmax(iou[i, cand])]
                matched[j] = True
                matrix[gts[j]['label'], pred] += 1
            else:
                matrix[n, pred] += 1
        for j in np.where(~matched)[0]:
            matrix[gts[j]['label'], n] += 1
    return dict(
        matrix=matrix,
        labels=classes + ['background'],
        score_thr=score_thr,
        iou_thr=iou_thr)


def pr_curves(
    results: List[dict], ann_file: str,
    iou_thrs=(0.5, 0.75)) -> Dict[str, Dict[float, tuple]]:
    """Precision at COCO's 101 recall points, per class and IoU threshold:
    ``{class: {iou: (recall, precision)}}`` (precision -1 where the recall
    is never reached, as in COCOeval)."""
    from ..datasets.validation import load_coco_split
    from ..evaluation.metric import coco_api, evaluate_detections
    split = load_coco_split(ann_file, check_images=False)
    ev = evaluate_detections(
        coco_api(split.to_coco_dict()), results, split.cat_ids)
    precision = ev.eval['precision']  # [T, R, K, A, M]
    recall = ev.params.recThrs
    out = OrderedDict()
    for k, cls in enumerate(split.classes):
        out[cls] = OrderedDict()
        for thr in iou_thrs:
            t = int(np.argmin(np.abs(ev.params.iouThrs - thr)))
            out[cls][thr] = (recall.copy(), precision[t, :, k, 0, -1].copy())
    return out


def plot_pr_curves(curves, out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, len(curves), figsize=(5 * len(curves), 4), squeeze=False)
    for ax, (cls, by_iou) in zip(axes[0], curves.items()):
        for thr, (rec, prec) in by_iou.items():
            valid = prec > -1
            ax.plot(rec[valid], prec[valid], label=f'IoU {thr}')
        ax.set_title(f'{cls}')
        ax.set_xlabel('recall')
        ax.set_ylabel('precision')
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_confusion_matrix(cm: dict, out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    matrix, labels = cm['matrix'], cm['labels']
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(matrix, cmap='Blues')
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel('predicted')
    ax.set_ylabel('ground truth')
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(matrix[i, j]), ha='center', va='center')
    ax.set_title(f'score >= {cm["score_thr"]}, IoU >= {cm["iou_thr"]}')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
