"""The COCO evaluation backends (pycocotools, faster-coco-eval) agree, and
FieldCocoMetric gives the same figures with either."""

import numpy as np
import pytest
import torch

from helpers.runs import run_tool


def test_eval_backends_agree(tmp_path):
    proc = run_tool('analysis_tools/bench_coco_eval.py', '--images', '60',
                    '--repeats', '1')
    line = [s for s in proc.stdout.splitlines() if 'speed-up' in s][0]
    stats_diff = float(line.split('stats ')[1].split(',')[0])
    prec_diff = float(line.split('precision ')[1])
    assert stats_diff <= 1e-4 and prec_diff <= 1e-4, line


def test_metric_with_faster_coco_eval_matches(tmp_path):
    from field_detr.datasets.demo_data import write_split
    from field_detr.evaluation.metric import FieldCocoMetric
    coco = write_split(str(tmp_path / 's'), 6, seed=4)
    ann_file = str(tmp_path / 's' / 'annotations' / 'annotations.json')
    rng = np.random.default_rng(0)
    samples = []
    for img in coco['images']:
        boxes = rng.uniform(0, 300, size=(30, 2))
        boxes = np.concatenate([boxes, boxes + rng.uniform(5, 60, (30, 2))], 1)
        samples.append(
            dict(
                img_id=img['id'],
                ori_shape=(img['height'], img['width']),
                pred_instances=dict(
                    bboxes=torch.tensor(boxes, dtype=torch.float32),
                    scores=torch.tensor(rng.random(30), dtype=torch.float32),
                    labels=torch.tensor(rng.integers(0, 2, 30)))))
    results = []
    for backend in ('pycocotools', 'faster_coco_eval'):
        metric = FieldCocoMetric(ann_file=ann_file, backend=backend)
        metric.dataset_meta = dict(classes=('player', 'ball'))
        metric.process({}, samples)
        results.append(metric.evaluate(len(samples)))
    assert results[0].keys() == results[1].keys()
    for key in results[0]:
        assert results[0][key] == pytest.approx(
            results[1][key], abs=1e-4, nan_ok=True), key
