"""COCO box mAP for the player/ball split, overall and per class."""
import contextlib
import io
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import load
from mmengine.logging import MMLogger
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..datasets.validation import load_coco_split
from ..errors import ConfigError
from .ball_metrics import (DISTANCES, SIZE_BINS, above, area_ranges,
                           ball_localisation, best_ball_threshold,
                           gt_boxes_by_image, mean_valid, size_bin_ap)
from .ball_metrics import size_bins as _size_bins

#: COCOeval.stats index of each overall metric.
STAT_INDEX = OrderedDict(mAP=0, mAP_50=1, mAP_75=2, mAP_s=3, mAP_m=4, mAP_l=5)


@METRICS.register_module()
class FieldCocoMetric(CocoMetric):
    """mmdet's ``CocoMetric`` for box detection, with five differences.

    * Ground truth comes from the validated split
      (:func:`~field_detr.datasets.validation.load_coco_split`): categories are
      matched to classes by name, and results are written with the dataset's
      own category ids. Annotation ids are renumbered from 1 for pycocotools,
      which mistakes id 0 for "unmatched".
    * Results are full precision (``CocoMetric`` rounds to 3 decimals), and
      every class gets ``<class>_mAP``, ``<class>_mAP_50`` and
      ``<class>_mAP_75`` next to ``bbox_mAP``, ``bbox_mAP_50``, ... .
    * Only the images that were evaluated count, so a subset of a split
      (``indices``) is scored on that subset.
    * ``backend='faster_coco_eval'`` evaluates with faster-coco-eval instead
      of pycocotools (same numbers, several times faster on large splits).
    * The ball is measured as a ball
      (:mod:`field_detr.evaluation.ball_metrics`): AP and AP@0.5 of every
      class by ``size_bins`` (``<class>_mAP_tiny``,
      ``<class>_mAP_50_tiny``, ...; COCOeval with those ``areaRng``), and
      for ``ball_class`` recall, precision and F1 by centre distance
      (``ball_recall_10px``, ``ball_f1_10px``, ...) and the false-ball rate
      on frames without a ball (``ball_false_rate``).

    Evaluation uses COCOeval's standard parameters (IoU 0.50:0.95, 100
    detections per image), so the numbers equal pycocotools run on the
    ``.bbox.json`` results file and the annotation file.

    Args:
        ann_file (str): the split's COCO annotation file.
        outfile_prefix (str, optional): write results to
            ``<prefix>.bbox.json``; a temporary file otherwise.
        backend (str): ``'pycocotools'`` (default) or
            ``'faster_coco_eval'``.
        size_bins (dict): ``{name: (min_area, max_area)}`` in original
            square pixels, COCO's ``area`` of the ground truth. Defaults to
            :data:`~field_detr.evaluation.ball_metrics.SIZE_BINS` (tiny < 12²,
            small 12²-24², medium 24²-64², large > 64²).
        ball_class (str, optional): the class measured by centre distance;
            ``None`` turns that off. Defaults to ``'ball'``.
        ball_distances (sequence): the ``k`` of recall@k, in pixels.
            Defaults to (5, 10, 20).
        ball_score_thr (float): detections below this confidence do not
            count for the centre-distance scores (COCO's AP uses all).
            Defaults to 0.5, ``LocalDetector``'s default.
        **kwargs: ``collect_device``, ``prefix`` as in ``CocoMetric``.
    """

    def __init__(self,
                 ann_file: str,
                 outfile_prefix: Optional[str] = None,
                 format_only: bool = False,
                 backend: str = 'pycocotools',
                 size_bins: Optional[dict] = None,
                 ball_class: Optional[str] = 'ball',
                 ball_distances: Sequence[float] = DISTANCES,
                 ball_score_thr: float = 0.5,
                 **kwargs) -> None:
        for key in ('metric', 'classwise'):
            if key in kwargs:
                raise ConfigError(
                    f'FieldCocoMetric: {key} is not an argument (it '
                    'evaluates boxes, and always per class)')
        super().__init__(
            ann_file=None,
            metric='bbox',
            outfile_prefix=outfile_prefix,
            format_only=format_only,
            **kwargs)
        if backend not in EVAL_BACKENDS:
            raise ValueError(f'backend must be one of {EVAL_BACKENDS}, got '
                             f'{backend!r}')
        self.ann_file = ann_file
        self.backend = backend
        self.size_bins = _size_bins(SIZE_BINS if size_bins is
                                    None else size_bins)
        self.ball_class = ball_class
        self.ball_distances = tuple(ball_distances)
        self.ball_score_thr = ball_score_thr

    def _load_ground_truth(self) -> None:
        split = load_coco_split(
            self.ann_file,
            classes=self.dataset_meta['classes'],
            check_images=False)
        self._coco_api = coco_api(split.to_coco_dict(), self.backend)
        self.cat_ids = list(split.cat_ids)

    def process(self, data_batch: dict, data_samples) -> None:
        if self._coco_api is None:
            self._load_ground_truth()
        super().process(data_batch, data_samples)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        gts, preds = zip(*results)
        img_ids = sorted({gt['img_id'] for gt in gts})

        with tempfile.TemporaryDirectory() as tmp_dir:
            prefix = self.outfile_prefix or osp.join(tmp_dir, 'results')
            result_file = self.results2json(preds, prefix)['bbox']
            if self.format_only:
                logger.info(f'results written to {result_file}')
                return OrderedDict()
            detections = load(result_file)

        classes = self.dataset_meta['classes']
        metrics = OrderedDict()
        if not detections:
            logger.warning('the model made no detection on the evaluated '
                           'images: every AP is 0')
            for name in STAT_INDEX:
                metrics[f'bbox_{name}'] = 0.0
            for cls in classes:
                for name in ('mAP', 'mAP_50', 'mAP_75'):
                    metrics[f'{cls}_{name}'] = 0.0
                for name in self.size_bins:
                    metrics[f'{cls}_mAP_{name}'] = 0.0
                    metrics[f'{cls}_mAP_50_{name}'] = 0.0
        else:
            coco_eval = evaluate_detections(self._coco_api, detections,
                                            self.cat_ids, img_ids,
                                            self.backend)
            logger.info('\n' + coco_eval.summary)
            for name, idx in STAT_INDEX.items():
                metrics[f'bbox_{name}'] = float(coco_eval.stats[idx])
            metrics.update(per_class_ap(coco_eval, classes))
            # the ball's threshold is chosen by centre distance (below)
            metrics.update(
                best_thresholds(coco_eval, classes, skip=(self.ball_class, )))
            by_size = evaluate_detections(
                self._coco_api,
                detections,
                self.cat_ids,
                img_ids,
                self.backend,
                area_rng=area_ranges(self.size_bins))
            metrics.update(size_bin_ap(by_size, classes, self.size_bins))
        metrics.update(self._ball_localisation(preds, img_ids, classes))
        logger.info('per class: ' + ', '.join(f'{k} {v:.4f}'
                                              for k, v in metrics.items()
                                              if not k.startswith('bbox_')))
        return metrics

    def _ball_localisation(self, preds, img_ids: List[int],
                           classes) -> Dict[str, float]:
        if self.ball_class is None:
            return {}
        if self.ball_class not in classes:
            MMLogger.get_current_instance().warning(
                f'no centre-distance scores: ball_class '
                f'{self.ball_class!r} is not one of the classes '
                f'{tuple(classes)} (set the metric\'s ball_class)')
            return {}
        label = list(classes).index(self.ball_class)
        gts = gt_boxes_by_image(self._coco_api, self.cat_ids[label], img_ids)
        frames = []
        for pred in preds:
            keep = pred['labels'] == label
            frames.append((gts[pred['img_id']], pred['bboxes'][keep],
                           pred['scores'][keep]))
        out = ball_localisation(
            above(frames, self.ball_score_thr),
            self.ball_distances,
            prefix=self.ball_class)
        out.update(
            best_ball_threshold(
                frames, self.ball_distances[0], prefix=self.ball_class))
        return out


#: COCO evaluators: pycocotools (the reference) or faster-coco-eval (a C++
#: implementation of the same algorithm, several times faster).
EVAL_BACKENDS = ('pycocotools', 'faster_coco_eval')


def coco_api(coco_dict: dict, backend: str = 'pycocotools'):
    """A COCO ground-truth object of ``backend`` for a COCO dict."""
    if backend == 'faster_coco_eval':
        from faster_coco_eval import COCO as FasterCOCO
        api = FasterCOCO()
    else:
        api = COCO()
    api.dataset = coco_dict
    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()
    return api


def evaluate_detections(coco_gt,
                        detections: List[dict],
                        cat_ids: List[int],
                        img_ids: Optional[List[int]] = None,
                        backend: str = 'pycocotools',
                        area_rng: Optional[tuple] = None):
    """Run COCO bbox evaluation and return the evaluator, with its printed
    summary in ``coco_eval.summary`` (pycocotools prints to stdout).

    ``coco_gt`` must come from :func:`coco_api` with the same ``backend``.
    ``area_rng``: ``(areaRng, areaRngLbl)`` instead of COCO's all / small /
    medium / large (then no summary: COCOeval's assumes COCO's ranges).
    """
    if backend == 'faster_coco_eval':
        from faster_coco_eval import COCOeval_faster as evaluator
    else:
        evaluator = COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(detections)
        coco_eval = evaluator(coco_gt, coco_dt, 'bbox')
        coco_eval.params.catIds = list(cat_ids)
        if img_ids is not None:
            coco_eval.params.imgIds = list(img_ids)
        if area_rng is not None:
            coco_eval.params.areaRng, coco_eval.params.areaRngLbl = area_rng
        coco_eval.evaluate()
        coco_eval.accumulate()
    if area_rng is not None:
        coco_eval.summary = ''
        return coco_eval
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        coco_eval.summarize()
    coco_eval.summary = summary.getvalue().rstrip()
    return coco_eval


def per_class_ap(coco_eval: COCOeval, classes) -> Dict[str, float]:
    """``<class>_mAP``, ``_mAP_50``, ``_mAP_75`` from an accumulated eval.

    Same reduction as COCOeval.summarize (all areas, the largest maxDets),
    restricted to one category; ``classes`` follow ``params.catIds`` order.
    """
    precision = coco_eval.eval['precision']  # [T, R, K, A, M]
    iou_thrs = coco_eval.params.iouThrs
    out = OrderedDict()
    for k, cls in enumerate(classes):
        out[f'{cls}_mAP'] = mean_valid(precision[:, :, k, 0, -1])
        for thr in (0.5, 0.75):
            t = int(np.argmin(np.abs(iou_thrs - thr)))
            out[f'{cls}_mAP_{int(thr * 100)}'] = mean_valid(precision[t, :, k,
                                                                      0, -1])
    return out


def best_thresholds(coco_eval: COCOeval, classes, skip=()) -> Dict[str, float]:
    """``<class>_best_thr``: the score from which the class's detections
    have the best F1 at IoU 0.5 on these frames (from the accumulated
    precision-recall curve: all areas, the largest maxDets), rounded down
    to 0.01, and that F1 as ``<class>_best_f1_iou50``; none for the
    classes in ``skip`` or without a ground-truth box."""
    precision = coco_eval.eval['precision']  # [T, R, K, A, M]
    scores = coco_eval.eval.get('scores')
    if scores is None:
        return {}
    t = int(np.argmin(np.abs(coco_eval.params.iouThrs - 0.5)))
    recall = np.asarray(coco_eval.params.recThrs)
    out = OrderedDict()
    for k, cls in enumerate(classes):
        p = precision[t, :, k, 0, -1]
        s = np.asarray(scores)[t, :, k, 0, -1]
        if cls in skip or not (p > 0).any():
            continue
        f1 = np.where(p > 0, 2 * p * recall / np.maximum(p + recall, 1e-12), 0)
        best = int(np.argmax(f1))
        out[f'{cls}_best_thr'] = float(np.floor(s[best] * 100) / 100)
        out[f'{cls}_best_f1_iou50'] = float(f1[best])
    return out


def format_report(metrics: Dict[str, float],
                  classes,
                  title: str,
                  prefix: str = 'coco/') -> str:
    """A table of mAP, mAP@0.5 and mAP@0.75, overall and per class."""
    rows = [('all', 'bbox_')] + [(cls, f'{cls}_') for cls in classes]
    width = max(len(name) for name, _ in rows) + 2
    lines = [title, f'{"":{width}}{"mAP":>9}{"mAP@0.5":>9}{"mAP@0.75":>9}']
    for name, key in rows:
        vals = [
            metrics.get(f'{prefix}{key}{m}', float('nan'))
            for m in ('mAP', 'mAP_50', 'mAP_75')
        ]
        lines.append(f'{name:{width}}' + ''.join(f'{v:9.4f}' for v in vals))
    return '\n'.join(lines)


def write_metrics(path: str, metrics: Dict[str, float]) -> None:
    """Write ``metrics`` as JSON, NaN (a bin or ratio with nothing to
    count) as ``null``."""
    import json
    import math
    import os
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(
            {
                k:
                (None if isinstance(v, float) and math.isnan(v) else float(v))
                for k, v in metrics.items()
            },
            f,
            indent=1)
