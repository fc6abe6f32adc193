"""Sliced (tiled) inference for small objects, with SAHI's slicing and
merging.

A frame is cut into overlapping tiles (``sahi.slicing.get_slice_bboxes``:
the last row and column are moved back inside the frame, so any tile size
works); the model sees the full frame and every tile, each resized by its
test pipeline, so a 10 px ball in a 4K frame is seen at several times the
scale the full frame gives it. Tile detections are moved to frame
coordinates and merged with the full frame's per class by SAHI's default
rule for sliced prediction: greedy non-maximum merging, two boxes matching
when their intersection covers half of the smaller one (IOS 0.5), which
also joins the two halves of a box cut by a tile border.
"""
from typing import List, Sequence, Tuple

import numpy as np

#: SAHI's ``get_sliced_prediction`` defaults.
DEFAULT_SLICING = dict(
    overlap=0.2, match_metric='IOS', match_threshold=0.5, full_frame=True)


def slicing_settings(slicing: dict) -> dict:
    """Validate ``dict(tile=(W, H), overlap=0.2, ...)``; fill defaults."""
    unknown = set(slicing) - set(DEFAULT_SLICING) - {'tile'}
    if unknown:
        raise ValueError(f'slicing: unknown setting(s) {sorted(unknown)}; '
                         f'known: tile, {", ".join(DEFAULT_SLICING)}')
    out = {**DEFAULT_SLICING, **slicing}
    tile = out.get('tile')
    if (tile is None or len(tile) != 2
            or not all(int(v) == v and v > 0 for v in tile)):
        raise ValueError(f'slicing: tile must be (width, height) in '
                         f'pixels, got {tile!r}')
    if not 0 <= out['overlap'] < 1:
        raise ValueError(f'slicing: overlap must be in [0, 1), got '
                         f'{out["overlap"]!r}')
    if out['match_metric'] not in ('IOS', 'IOU'):
        raise ValueError('slicing: match_metric must be "IOS" or "IOU"')
    out['tile'] = (int(tile[0]), int(tile[1]))
    return out


def parse_tile(text: str) -> Tuple[int, int]:
    """``'640x384'`` -> ``(640, 384)``."""
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise ValueError(f'tile size must be WxH, e.g. 640x384, got '
                         f'{text!r}') from None
    return w, h


def tile_windows(width: int, height: int, tile: Sequence[int],
                 overlap: float) -> List[Tuple[int, int, int, int]]:
    """The tiles of a ``width`` x ``height`` frame as ``(x1, y1, x2, y2)``,
    row by row (``sahi.slicing.get_slice_bboxes``). A frame no larger than
    one tile has no tiles: the full frame is all there is."""
    from sahi.slicing import get_slice_bboxes
    tw, th = tile
    if width <= tw and height <= th:
        return []
    return [
        tuple(int(v) for v in box) for box in get_slice_bboxes(
            image_height=height,
            image_width=width,
            slice_height=min(th, height),
            slice_width=min(tw, width),
            overlap_height_ratio=overlap,
            overlap_width_ratio=overlap)
    ]


def merge_views(
        views: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]],
        offsets: Sequence[Tuple[int, int]],
        frame_shape: Tuple[int, int],
        match_metric: str = 'IOS',
        match_threshold: float = 0.5
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge the detections of several views of one frame.

    Args:
        views: per view, ``(boxes (N, 4) x1y1x2y2 in the view's pixels,
            scores (N,), labels (N,))``, already above the confidence
            threshold.
        offsets: per view, its ``(x, y)`` in the frame.
        frame_shape: ``(height, width)``; boxes are clipped to it.
        match_metric, match_threshold: SAHI's merge rule.

    Returns:
        ``(boxes, scores, labels)`` in frame pixels, by SAHI's
        ``GreedyNMMPostprocess`` per class (``class_agnostic=False``): each
        kept box becomes the union of the boxes merged into it, with the
        highest score and its class.
    """
    from sahi.postprocess.combine import GreedyNMMPostprocess
    from sahi.prediction import ObjectPrediction
    height, width = frame_shape
    preds = []
    for (boxes, scores, labels), (dx, dy) in zip(views, offsets):
        for box, score, label in zip(boxes, scores, labels):
            x1, y1, x2, y2 = (float(v) for v in box)
            x1, x2 = np.clip([x1 + dx, x2 + dx], 0, width)
            y1, y2 = np.clip([y1 + dy, y2 + dy], 0, height)
            if x2 <= x1 or y2 <= y1:
                continue
            preds.append(
                ObjectPrediction(
                    bbox=[x1, y1, x2, y2],
                    category_id=int(label),
                    category_name=str(int(label)),
                    score=float(score),
                    full_shape=[height, width]))
    if preds:
        preds = GreedyNMMPostprocess(
            match_threshold=match_threshold,
            match_metric=match_metric,
            class_agnostic=False)(
                preds)
    boxes = np.array([p.bbox.to_xyxy() for p in preds],
                     dtype=np.float32).reshape(-1, 4)
    scores = np.array([p.score.value for p in preds], dtype=np.float32)
    labels = np.array([p.category.id for p in preds], dtype=np.int64)
    order = np.argsort(-scores, kind='stable')
    return boxes[order], scores[order], labels[order]
