"""The ball measured as a ball: AP by size bin and centre-distance scores,
against answers worked out by hand and pycocotools run directly."""
import json
import math

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from field_detr.datasets.demo_data import write_split
from field_detr.evaluation.ball_metrics import SIZE_BINS, ball_localisation
from field_detr.evaluation.metric import FieldCocoMetric

CLASSES = ('player', 'ball')


def _box(cx, cy, size=10):
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


# (ball centres, [(detection centre, score), ...]) per frame. Worked out by
# hand, k = 5 / 10 / 20 px:
#   frame 0: found at 4 px                  -> found at 5, 10, 20
#   frame 1: found at 11 px                 -> found at 20 only
#   frame 2: nearest detection 25 px away   -> never found, one false ball
#   frame 3: found at 2 px, plus a duplicate at 1 px with a lower score:
#            the ball is found once, the duplicate counts against
#   frame 4: no ball, one ball detection    -> a false ball on an empty frame
#   frame 5: no ball, no detection
# 4 balls, 6 detections: found 2 / 2 / 3 -> recall .5 / .5 / .75,
# precision 2/6 / 2/6 / 3/6, F1 = 2 found / (4 + 6) = .4 / .4 / .6;
# false-ball rate 1 of 2 empty frames.
FRAMES = [
    ([(100, 100)], [((104, 100), 0.9)]),
    ([(200, 100)], [((211, 100), 0.8)]),
    ([(300, 100)], [((325, 100), 0.9)]),
    ([(50, 50)], [((50, 52), 0.9), ((51, 50), 0.7)]),
    ([], [((10, 10), 0.6)]),
    ([], []),
]
EXPECTED = {
    'ball_recall_5px': 0.5,
    'ball_precision_5px': 2 / 6,
    'ball_f1_5px': 0.4,
    'ball_recall_10px': 0.5,
    'ball_precision_10px': 2 / 6,
    'ball_f1_10px': 0.4,
    'ball_recall_20px': 0.75,
    'ball_precision_20px': 0.5,
    'ball_f1_20px': 0.6,
    'ball_false_rate': 0.5,
    'ball_count': 4,
    'ball_detections': 6,
    'ball_empty_frames': 2,
}


def _frames(frames):
    return [(np.array([_box(*c) for c in gts]).reshape(-1, 4),
             np.array([_box(*c) for c, _ in dets]).reshape(-1, 4),
             np.array([s for _, s in dets])) for gts, dets in frames]


def test_hand_worked_frames():
    got = ball_localisation(_frames(FRAMES))
    assert got == pytest.approx(EXPECTED)


def test_two_balls_in_a_frame_are_both_found():
    # the first detection is 10 px from both balls and takes the first;
    # the second, 1 px from the second ball, takes that one
    frames = [([(100, 100), (120, 100)], [((110, 100), 0.9),
                                          ((121, 100), 0.8)])]
    got = ball_localisation(_frames(frames), distances=(10, ))
    assert got['ball_recall_10px'] == 1.0
    assert got['ball_precision_10px'] == 1.0


def test_no_ball_in_the_split():
    got = ball_localisation(_frames([([], [((5, 5), 0.9)]), ([], [])]))
    assert math.isnan(got['ball_recall_10px'])
    assert got['ball_precision_10px'] == 0.0
    assert got['ball_f1_10px'] == 0.0
    assert got['ball_false_rate'] == 0.5
    nothing = ball_localisation(_frames([([], [])]))
    assert math.isnan(nothing['ball_f1_10px'])
    assert math.isnan(nothing['ball_precision_10px'])


def test_balls_but_no_detection_score_zero_not_nan():
    got = ball_localisation(_frames([([(5, 5)], [])]))
    assert got['ball_recall_10px'] == 0.0
    assert got['ball_f1_10px'] == 0.0
    assert math.isnan(got['ball_false_rate'])


def _write_coco(path, frames, player=True):
    """A COCO file of ``frames`` (640x384 images), each with a player too,
    so that player AP is defined."""
    images, anns = [], []
    for i, (gts, _) in enumerate(frames):
        images.append(
            dict(id=i + 1, file_name=f'{i}.jpg', width=640, height=384))
        boxes = [(2, _box(*c)) for c in gts]
        if player:
            boxes.append((1, [400, 100, 440, 200]))
        for cat, (x1, y1, x2, y2) in boxes:
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=i + 1,
                    category_id=cat,
                    iscrowd=0,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=(x2 - x1) * (y2 - y1)))
    with open(path, 'w') as f:
        json.dump(
            dict(
                images=images,
                annotations=anns,
                categories=[
                    dict(id=1, name='player'),
                    dict(id=2, name='ball')
                ]), f)


def _metric_samples(frames, extra_low_score=False):
    samples = []
    for i, (_, dets) in enumerate(frames):
        boxes = [_box(*c) for c, _ in dets] + [[400, 100, 440, 200]]
        scores = [s for _, s in dets] + [0.95]
        labels = [1] * len(dets) + [0]
        if extra_low_score:  # below ball_score_thr: must not count
            boxes.append(_box(5, 5))
            scores.append(0.3)
            labels.append(1)
        samples.append(
            dict(
                img_id=i + 1,
                ori_shape=(384, 640),
                pred_instances=dict(
                    bboxes=torch.tensor(boxes).reshape(-1, 4),
                    scores=torch.tensor(scores),
                    labels=torch.tensor(labels))))
    return samples


def _evaluate(ann_file, samples, **kwargs):
    metric = FieldCocoMetric(ann_file=ann_file, **kwargs)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)
    return metric.evaluate(len(samples))


@pytest.mark.parametrize('backend', ['pycocotools', 'faster_coco_eval'])
def test_metric_reports_the_hand_worked_scores(tmp_path, backend):
    ann_file = str(tmp_path / 'ann.json')
    _write_coco(ann_file, FRAMES)
    res = _evaluate(
        ann_file,
        _metric_samples(FRAMES, extra_low_score=True),
        backend=backend)
    for key, value in EXPECTED.items():
        assert res[f'coco/{key}'] == pytest.approx(value), key
    # a lower threshold lets the 0.3 detections in: 6 more, all false
    res = _evaluate(
        ann_file,
        _metric_samples(FRAMES, extra_low_score=True),
        backend=backend,
        ball_score_thr=0.2)
    assert res['coco/ball_detections'] == 12
    assert res['coco/ball_precision_20px'] == pytest.approx(3 / 12)


def test_report_counts_the_hand_worked_balls(tmp_path):
    """The ball table's last line counts what the 5 px scores are made of:
    2 of the 4 balls found, 4 of the 6 detections false."""
    from field_detr.evaluation.ball_metrics import format_ball_report
    ann_file = str(tmp_path / 'ann.json')
    _write_coco(ann_file, FRAMES)
    res = _evaluate(ann_file, _metric_samples(FRAMES))
    report = format_ball_report(res, 'ball', ('tiny', ), (5, 10))
    assert report.splitlines()[-2] == (
        'best F1 <= 5 px on these frames: 0.5714 from score 0.90 (recall '
        '0.5000, precision 0.6667)')
    assert report.splitlines()[-1] == (
        'balls found within 5 px: 2 of 4; false ball detections: 4 of 6')


def test_best_threshold_of_the_hand_worked_frames(tmp_path):
    """At 5 px: every detection from 0.3 up gives F1 2 found / (4 balls +
    12 detections); dropping the 0.3s, the 0.6, the 0.7 and the 0.8 one
    by one raises it to 4 / 7 at 0.85 and 0.9 (the higher kept: fewer
    detections), and 0.95 leaves none. The metric reports it beside the
    scores at its own threshold."""
    from field_detr.evaluation.ball_metrics import best_ball_threshold
    frames = _frames(FRAMES)
    best = best_ball_threshold(frames, 5)
    assert best['ball_best_thr'] == 0.9
    assert best['ball_best_f1_5px'] == pytest.approx(4 / 7)
    assert best['ball_best_recall_5px'] == 0.5
    assert best['ball_best_precision_5px'] == pytest.approx(2 / 3)
    ann_file = str(tmp_path / 'ann.json')
    _write_coco(ann_file, FRAMES)
    res = _evaluate(ann_file, _metric_samples(FRAMES, extra_low_score=True))
    assert res['coco/ball_best_thr'] == 0.9
    assert res['coco/ball_best_f1_5px'] == pytest.approx(4 / 7)
    assert res['coco/ball_f1_5px'] == pytest.approx(0.4)  # at 0.5, as before
    none = best_ball_threshold([(np.zeros((0, 4)), np.zeros((0, 4)), [])], 5)
    assert math.isnan(none['ball_best_thr'])


def test_zero_balls_in_the_split(tmp_path):
    frames = [([], [((10, 10), 0.9)]), ([], [])]
    ann_file = str(tmp_path / 'ann.json')
    _write_coco(ann_file, frames)
    res = _evaluate(ann_file, _metric_samples(frames))
    assert res['coco/ball_count'] == 0
    assert math.isnan(res['coco/ball_recall_10px'])
    assert res['coco/ball_false_rate'] == 0.5
    assert math.isnan(res['coco/ball_mAP_tiny'])  # no ball to rank
    assert res['coco/player_mAP_50'] == pytest.approx(1.0)


def test_distances_and_bins_are_settable(tmp_path):
    ann_file = str(tmp_path / 'ann.json')
    _write_coco(ann_file, FRAMES)
    res = _evaluate(
        ann_file,
        _metric_samples(FRAMES),
        ball_distances=(30, ),
        size_bins=dict(small=(0, 50**2), big=(50**2, 1e10)))
    assert res['coco/ball_recall_30px'] == 1.0
    assert 'coco/ball_recall_10px' not in res
    assert {'coco/ball_mAP_small', 'coco/player_mAP_50_big'} <= set(res)
    assert 'coco/ball_mAP_tiny' not in res
    with pytest.raises(ValueError, match='size bin'):
        FieldCocoMetric(ann_file=ann_file, size_bins=dict(tiny=(10, 5)))
    for key, value in (('metric', 'bbox'), ('classwise', False)):
        with pytest.raises(ValueError, match=f'{key} is not an argument'):
            FieldCocoMetric(ann_file=ann_file, **{key: value})


def test_size_bin_ap_equals_pycocotools_with_the_same_area_ranges(tmp_path):
    """Noisy detections on a generated split (balls 7-11 px, players
    larger): per-class, per-bin AP equals COCOeval run directly on the
    results file with params.areaRng set to the bins."""
    coco = write_split(str(tmp_path / 's'), 12, seed=5)
    ann_file = str(tmp_path / 's' / 'annotations' / 'annotations.json')
    rng = np.random.default_rng(0)
    label_of = {1: 0, 2: 1}
    samples = []
    for img in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        boxes, scores, labels = [], [], []
        for a in anns:
            x, y, w, h = a['bbox']
            jitter = rng.normal(0, 0.15, 4) * [w, h, w, h]
            boxes.append(np.array([x, y, x + w, y + h]) + jitter)
            scores.append(rng.uniform(0.2, 1.0))
            labels.append(label_of[a['category_id']])
        samples.append(
            dict(
                img_id=img['id'],
                ori_shape=(img['height'], img['width']),
                pred_instances=dict(
                    bboxes=torch.tensor(np.array(boxes),
                                        dtype=torch.float32).reshape(-1, 4),
                    scores=torch.tensor(scores, dtype=torch.float32),
                    labels=torch.tensor(labels))))
    prefix = str(tmp_path / 'out')
    res = _evaluate(ann_file, samples, outfile_prefix=prefix)

    gt = COCO(ann_file)
    ev = COCOeval(gt, gt.loadRes(prefix + '.bbox.json'), 'bbox')
    ev.params.areaRng = [[0, 1e10]] + [list(r) for r in SIZE_BINS.values()]
    ev.params.areaRngLbl = ['all'] + list(SIZE_BINS)
    ev.evaluate()
    ev.accumulate()
    precision = ev.eval['precision']
    checked = 0
    for k, cls in enumerate(CLASSES):
        for a, name in enumerate(SIZE_BINS, start=1):
            for key, p in ((f'{cls}_mAP_{name}', precision[:, :, k, a, -1]),
                           (f'{cls}_mAP_50_{name}', precision[0, :, k, a,
                                                              -1])):
                valid = p[p > -1]
                want = float(np.mean(valid)) if valid.size else float('nan')
                got = res[f'coco/{key}']
                if math.isnan(want):
                    assert math.isnan(got), key
                else:
                    assert got == pytest.approx(want, abs=1e-12), key
                    checked += 1
    # the generated balls fall in "tiny", the players in larger bins
    assert 0 < res['coco/ball_mAP_50_tiny'] < 1
    assert checked >= 4
