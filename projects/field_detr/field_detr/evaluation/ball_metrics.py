"""Measures of the ball that COCO's mAP hides.

* AP by size bins that fit a ball (:data:`SIZE_BINS`), computed by COCOeval
  itself through ``params.areaRng``.
* A localisation score that does not depend on IoU, as ball-tracking work
  reports it: a ball is found when a ball detection above the confidence
  threshold has its box centre within ``k`` pixels of the ball's centre.

Both work in original image pixels.
"""
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np

#: COCO's "small" bin (< 32² px) holds every ball. These bins split the
#: ball's range: a far ball in a broadcast frame is 5-12 px wide (``tiny``),
#: a near one 12-24 px (``small``); ``medium`` (24-64 px) holds close-ups
#: of the ball and distant players, ``large`` (> 64 px) most players.
#: Areas in square pixels, lower bound inclusive, as COCOeval compares.
SIZE_BINS = OrderedDict(
    tiny=(0, 12**2),
    small=(12**2, 24**2),
    medium=(24**2, 64**2),
    large=(64**2, 1e10))

#: Centre distances (pixels) at which the ball counts as found.
DISTANCES = (5, 10, 20)


def mean_valid(precision: np.ndarray) -> float:
    """COCOeval.summarize's mean over a precision slice (-1 = no data);
    NaN when the slice holds no data."""
    valid = precision[precision > -1]
    return float(np.mean(valid)) if valid.size else float('nan')


def size_bins(bins: Mapping[str, Sequence[float]]) -> 'OrderedDict':
    """Validate ``{name: (min_area, max_area)}``; return it ordered."""
    out = OrderedDict()
    for name, rng in bins.items():
        if not re.fullmatch('[a-z]+', str(name)) or len(rng) != 2 or \
                not 0 <= rng[0] < rng[1]:
            raise ValueError(f'size bin {name!r}: {rng!r}: expected a '
                             'lower-case name and (min_area, max_area) '
                             'with 0 <= min < max')
        out[str(name)] = (float(rng[0]), float(rng[1]))
    return out


def size_bin_ap(coco_eval, classes: Sequence[str],
                bins: Mapping[str, Sequence[float]]) -> Dict[str, float]:
    """``<class>_mAP_<bin>`` and ``<class>_mAP_50_<bin>`` from a COCOeval
    accumulated with ``params.areaRng = [all] + bins`` (see
    :func:`area_ranges`). NaN where a bin holds no ground truth of the
    class."""
    precision = coco_eval.eval['precision']  # [T, R, K, A, M]
    t50 = int(np.argmin(np.abs(coco_eval.params.iouThrs - 0.5)))
    out = OrderedDict()
    for k, cls in enumerate(classes):
        for a, name in enumerate(bins, start=1):
            out[f'{cls}_mAP_{name}'] = mean_valid(precision[:, :, k, a, -1])
            out[f'{cls}_mAP_50_{name}'] = mean_valid(precision[t50, :, k, a,
                                                               -1])
    return out


def area_ranges(bins: Mapping[str, Sequence[float]]) -> Tuple[list, list]:
    """COCOeval's ``areaRng`` and ``areaRngLbl`` for ``bins``, with COCO's
    ``all`` range first."""
    return ([[0, 1e10]] + [list(r)
                           for r in bins.values()], ['all'] + list(bins))


def _centres(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2,
                     (boxes[:, 1] + boxes[:, 3]) / 2],
                    axis=1)


def match_by_distance(gt_boxes: np.ndarray, det_boxes: np.ndarray,
                      det_scores: np.ndarray, max_dist: float) -> int:
    """How many detections find a ground-truth ball: detections in order of
    score take the nearest ball not yet taken whose centre is within
    ``max_dist`` pixels (inclusive) of theirs. Each ball is found at most
    once, so a duplicate detection counts as a false one."""
    gts, dets = _centres(gt_boxes), _centres(det_boxes)
    if not len(gts) or not len(dets):
        return 0
    taken = np.zeros(len(gts), dtype=bool)
    for d in np.argsort(-np.asarray(det_scores), kind='stable'):
        dist = np.hypot(*(gts - dets[d]).T)
        dist[taken] = np.inf
        g = int(np.argmin(dist))
        if dist[g] <= max_dist:
            taken[g] = True
    return int(taken.sum())


def _ratio(num: float, den: float) -> float:
    return num / den if den else float('nan')


def ball_localisation(frames: Iterable[Tuple[np.ndarray, np.ndarray,
                                             np.ndarray]],
                      distances: Sequence[float] = DISTANCES,
                      prefix: str = 'ball') -> Dict[str, float]:
    """Recall, precision and F1 of the ball by centre distance, and the
    false-ball rate.

    Args:
        frames: per frame, ``(gt_boxes (G, 4), det_boxes (D, 4),
            det_scores (D,))`` in x1, y1, x2, y2 pixels; the detections
            already limited to the ball class and the confidence threshold.
        distances: the ``k`` of recall@k, in pixels.
        prefix: the class name in the keys.

    Returns:
        ``<prefix>_recall_<k>px`` (balls found / balls),
        ``<prefix>_precision_<k>px`` (detections that found a ball /
        detections), ``<prefix>_f1_<k>px`` (2 found / (balls +
        detections)), ``<prefix>_false_rate``
        (frames without a ball that got a ball detection / frames without a
        ball), and the counts ``<prefix>_count``, ``<prefix>_detections``,
        ``<prefix>_empty_frames``. A ratio with nothing to count (no ball in
        the split, no detection, no frame without a ball) is NaN.
    """
    frames = [(np.asarray(g).reshape(-1, 4), np.asarray(d).reshape(-1, 4),
               np.asarray(s).reshape(-1)) for g, d, s in frames]
    n_gt = sum(len(g) for g, _, _ in frames)
    n_det = sum(len(d) for _, d, _ in frames)
    empty = [len(d) for g, d, _ in frames if not len(g)]
    out = OrderedDict()
    for k in distances:
        found = sum(match_by_distance(g, d, s, k) for g, d, s in frames)
        recall, precision = _ratio(found, n_gt), _ratio(found, n_det)
        # 2TP / (2TP + FP + FN): the harmonic mean of the two, and 0 when
        # there are balls but no detection
        f1 = _ratio(2 * found, n_gt + n_det)
        tag = f'{k:g}px'
        out[f'{prefix}_recall_{tag}'] = recall
        out[f'{prefix}_precision_{tag}'] = precision
        out[f'{prefix}_f1_{tag}'] = f1
    out[f'{prefix}_false_rate'] = _ratio(sum(n > 0 for n in empty), len(empty))
    out[f'{prefix}_count'] = float(n_gt)
    out[f'{prefix}_detections'] = float(n_det)
    out[f'{prefix}_empty_frames'] = float(len(empty))
    return out


#: The score thresholds ``best_ball_threshold`` tries: 0.05, 0.10 ... 0.95.
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


def above(frames: Iterable[Tuple[np.ndarray, np.ndarray, np.ndarray]],
          threshold: float) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``frames`` (as ``ball_localisation``'s) with the detections scored
    below ``threshold`` left out."""
    return [(g, d[s >= threshold], s[s >= threshold]) for g, d, s in frames]


def best_ball_threshold(frames: Iterable[Tuple[np.ndarray, np.ndarray,
                                               np.ndarray]],
                        distance: float,
                        prefix: str = 'ball') -> Dict[str, float]:
    """The score threshold of the ball detections with the best F1 at
    ``distance`` px on these frames (``frames`` as ``ball_localisation``'s,
    the detections of every score), among ``THRESHOLDS``; on a tie the
    higher one (fewer detections for the same F1).

    Returns ``<prefix>_best_thr`` and ``ball_localisation``'s F1, recall and
    precision there (``<prefix>_best_f1_<k>px`` ...); NaN when the frames
    hold no ball.
    """
    frames = [(np.asarray(g).reshape(-1, 4), np.asarray(d).reshape(-1, 4),
               np.asarray(s).reshape(-1)) for g, d, s in frames]
    tag = f'{distance:g}px'
    names = ('f1', 'recall', 'precision')
    best = dict.fromkeys(('thr', ) + names, float('nan'))
    if any(len(g) for g, _, _ in frames):
        for thr in THRESHOLDS:
            scores = ball_localisation(
                above(frames, thr), (distance, ), prefix=prefix)
            if thr == THRESHOLDS[0] or \
                    scores[f'{prefix}_f1_{tag}'] >= best['f1']:
                best = dict(
                    thr=thr,
                    **{n: scores[f'{prefix}_{n}_{tag}']
                       for n in names})
    return OrderedDict([(f'{prefix}_best_thr', best['thr'])] +
                       [(f'{prefix}_best_{n}_{tag}', best[n]) for n in names])


def format_ball_report(metrics: Dict[str, float],
                       ball: str,
                       bins: Sequence[str],
                       distances: Sequence[float],
                       prefix: str = 'coco/') -> str:
    """The ball table printed under the COCO table."""

    def get(key):
        return metrics.get(f'{prefix}{ball}_{key}', float('nan'))

    lines = [
        f'{ball}: AP by size (original pixels)',
        f'{"":10}{"AP":>9}{"AP@0.5":>9}'
    ]
    for name in bins:
        lines.append(f'{name:10}{get(f"mAP_{name}"):9.4f}'
                     f'{get(f"mAP_50_{name}"):9.4f}')
    lines += [
        '', f'{ball}: found by centre distance '
        f'({int(get("count"))} {ball}s, {int(get("detections"))} '
        f'detections, {int(get("empty_frames"))} frames without)',
        f'{"":10}{"recall":>10}{"precision":>10}{"F1":>9}'
    ]
    for k in distances:
        tag = f'{k:g}px'
        lines.append(f'{"<= " + tag:10}{get(f"recall_{tag}"):10.4f}'
                     f'{get(f"precision_{tag}"):10.4f}'
                     f'{get(f"f1_{tag}"):9.4f}')
    lines.append(f'false {ball} rate on frames without one: '
                 f'{get("false_rate"):.4f}')
    # the closest distance in counts: what a user sees in the pictures
    tag = f'{distances[0]:g}px'
    if f'{prefix}{ball}_best_thr' in metrics:
        lines.append(f'best F1 <= {tag[:-2]} px on these frames: '
                     f'{get(f"best_f1_{tag}"):.4f} from score '
                     f'{get("best_thr"):.2f} (recall '
                     f'{get(f"best_recall_{tag}"):.4f}, precision '
                     f'{get(f"best_precision_{tag}"):.4f})')
    count, detections = int(get('count')), int(get('detections'))
    found = round(np.nan_to_num(get(f'recall_{tag}')) * count)
    lines.append(f'{ball}s found within {tag[:-2]} px: {found} of {count}; '
                 f'false {ball} detections: {detections - found} of '
                 f'{detections}')
    return '\n'.join(lines)


def gt_boxes_by_image(coco_api, cat_id: int, img_ids: List[int]) -> dict:
    """``{img_id: (G, 4) x1y1x2y2}`` of one category (crowd boxes left
    out, as COCOeval ignores them)."""
    out = {}
    for img_id in img_ids:
        anns = coco_api.loadAnns(
            coco_api.getAnnIds(
                imgIds=[img_id], catIds=[cat_id], iscrowd=False))
        out[img_id] = np.array([[
            a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
            a['bbox'][1] + a['bbox'][3]
        ] for a in anns],
                               dtype=np.float64).reshape(-1, 4)
    return out
