"""COCO box mAP for the player/ball split, overall and per class."""
import contextlib
import io
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import load
from mmengine.logging import MMLogger
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .data_validation import load_coco_split

#: COCOeval.stats index of each overall metric.
STAT_INDEX = OrderedDict(
    mAP=0, mAP_50=1, mAP_75=2, mAP_s=3, mAP_m=4, mAP_l=5)


@METRICS.register_module()
class FieldCocoMetric(CocoMetric):
    """mmdet's ``CocoMetric`` for box detection, with three differences.

    * Ground truth comes from the validated split
      (:func:`~field_detr.data_validation.load_coco_split`): categories are
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

    Evaluation uses COCOeval's standard parameters (IoU 0.50:0.95, 100
    detections per image), so the numbers equal pycocotools run on the
    ``.bbox.json`` results file and the annotation file.

    Args:
        ann_file (str): the split's COCO annotation file.
        outfile_prefix (str, optional): write results to
            ``<prefix>.bbox.json``; a temporary file otherwise.
        backend (str): ``'pycocotools'`` (default) or
            ``'faster_coco_eval'``.
        **kwargs: ``collect_device``, ``prefix`` as in ``CocoMetric``.
    """

    def __init__(self,
                 ann_file: str,
                 outfile_prefix: Optional[str] = None,
                 format_only: bool = False,
                 backend: str = 'pycocotools',
                 **kwargs) -> None:
        kwargs.pop('metric', None)
        kwargs.pop('classwise', None)
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
            return metrics

        coco_eval = evaluate_detections(self._coco_api, detections,
                                        self.cat_ids, img_ids, self.backend)
        logger.info('\n' + coco_eval.summary)
        for name, idx in STAT_INDEX.items():
            metrics[f'bbox_{name}'] = float(coco_eval.stats[idx])
        metrics.update(per_class_ap(coco_eval, classes))
        logger.info('per class: ' + ', '.join(
            f'{k} {v:.4f}' for k, v in metrics.items()
            if not k.startswith('bbox_')))
        return metrics


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


def evaluate_detections(coco_gt, detections: List[dict],
                        cat_ids: List[int],
                        img_ids: Optional[List[int]] = None,
                        backend: str = 'pycocotools'):
    """Run COCO bbox evaluation and return the evaluator, with its printed
    summary in ``coco_eval.summary`` (pycocotools prints to stdout).

    ``coco_gt`` must come from :func:`coco_api` with the same ``backend``.
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
        coco_eval.evaluate()
        coco_eval.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        coco_eval.summarize()
    coco_eval.summary = summary.getvalue().rstrip()
    return coco_eval


def _mean_valid(precision: np.ndarray) -> float:
    valid = precision[precision > -1]
    return float(np.mean(valid)) if valid.size else float('nan')


def per_class_ap(coco_eval: COCOeval, classes) -> Dict[str, float]:
    """``<class>_mAP``, ``_mAP_50``, ``_mAP_75`` from an accumulated eval.

    Same reduction as COCOeval.summarize (all areas, the largest maxDets),
    restricted to one category; ``classes`` follow ``params.catIds`` order.
    """
    precision = coco_eval.eval['precision']  # [T, R, K, A, M]
    iou_thrs = coco_eval.params.iouThrs
    out = OrderedDict()
    for k, cls in enumerate(classes):
        out[f'{cls}_mAP'] = _mean_valid(precision[:, :, k, 0, -1])
        for thr in (0.5, 0.75):
            t = int(np.argmin(np.abs(iou_thrs - thr)))
            out[f'{cls}_mAP_{int(thr * 100)}'] = _mean_valid(
                precision[t, :, k, 0, -1])
    return out


def format_report(metrics: Dict[str, float], classes, title: str,
                  prefix: str = 'coco/') -> str:
    """A table of mAP, mAP@0.5 and mAP@0.75, overall and per class."""
    rows = [('all', 'bbox_')] + [(cls, f'{cls}_') for cls in classes]
    width = max(len(name) for name, _ in rows) + 2
    lines = [title, f'{"":{width}}{"mAP":>9}{"mAP@0.5":>9}{"mAP@0.75":>9}']
    for name, key in rows:
        vals = [metrics.get(f'{prefix}{key}{m}', float('nan'))
                for m in ('mAP', 'mAP_50', 'mAP_75')]
        lines.append(f'{name:{width}}' + ''.join(f'{v:9.4f}' for v in vals))
    return '\n'.join(lines)
