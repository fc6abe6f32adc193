"""PR curves and a confusion matrix of a model's results on a split
(``tools/analysis_tools/analyze_results.py``); the functions return the
data they plot, so it can be checked without reading pixels."""
from collections import OrderedDict
from typing import Dict, List

import numpy as np


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
    from .metric import coco_api, evaluate_detections
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
