"""The small DINO with its ball head (the demo's model) must learn the
synthetic pitch, find the players and the ball on frames it never saw, and
tools/test.py must report exactly what pycocotools computes on its results
file."""
import json
import os.path as osp

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from helpers.runs import scalars

pytestmark = pytest.mark.slow

# On 48 held-out frames of seed 1007 (40 balls; 8 frames without one),
# ball detections from a score of BALL_THRESHOLD (the metric's default):
# player AP@0.5, and ball recall and precision at 5 px. Measured with this
# model, split and budget (tools/analysis_tools/eval_ball_head.py --config
# tests/configs/dino_small.py --variants head --train-images 16 --iters 800
# --held-out-seeds 1007 --held-out-images 48, one thread; docs/training.md)
# on three training seeds of one machine (randomness.seed 42, 1, 2): player
# AP@0.5 0.903, 0.905, 0.909; ball recall 0.900, 0.925, 0.875; precision
# 0.973, 0.949, 0.854. On the first 24 of these frames alone one ball is
# 0.053 of the recall: there seed 2 finds 15 of 19 balls (0.789) with 4
# false ones, and at 600 iterations the player AP@0.5 ranged 0.786-0.857
# from machine to machine.
BALL_THRESHOLD = 0.5
HELD_OUT_PLAYER_AP50 = 0.8
BALL_RECALL = 0.8
BALL_PRECISION = 0.8


def _reported(stdout):
    """The mAP table tools/test.py prints: {row: (mAP, mAP50, mAP75)}."""
    lines = stdout.splitlines()
    start = max(i for i, s in enumerate(lines) if s.startswith('COCO box AP'))
    rows = {}
    for line in lines[start + 2:start + 5]:
        name, *vals = line.split()
        rows[name] = tuple(float(v) for v in vals)
    return rows


def test_box_loss_halves(learned):
    losses = [
        r['loss_bbox'] for r in scalars(learned['work_dir'])
        if 'loss_bbox' in r
    ]
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last <= 0.5 * first, (first, last)


def test_predictions_move_onto_the_players_and_the_ball(learned):
    rows = _reported(learned['proc'].stdout)
    # Measured on the training frames (seeds 42, 1, 2): player mAP@0.5
    # 0.937, 0.940, 0.956; ball 1.000, 1.000, 0.916.
    # An untrained, class-swapped or box-format-broken model scores ~0.
    assert rows['player'][1] >= 0.8, rows
    assert rows['ball'][1] >= 0.8, rows


def test_report_equals_pycocotools_on_the_out_file(learned):
    gt = COCO(osp.join(learned['split'], 'annotations', 'annotations.json'))
    with open(learned['out']) as f:
        dets = json.load(f)
    assert {d['category_id'] for d in dets} <= {1, 2}
    rows = _reported(learned['proc'].stdout)

    def coco_eval(cat_ids):
        ev = COCOeval(gt, gt.loadRes(dets), 'bbox')
        ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return ev.stats[:3]

    metrics = learned['metrics']
    for name, cat_ids in (('all', [1, 2]), ('player', [1]), ('ball', [2])):
        expected = coco_eval(cat_ids)
        key = 'bbox' if name == 'all' else name
        logged = [
            metrics[f'coco/{key}_{m}'] for m in ('mAP', 'mAP_50', 'mAP_75')
        ]
        assert logged == pytest.approx(expected, abs=1e-12), name
        # the printed table rounds to 4 decimals
        assert rows[name] == pytest.approx(expected, abs=5e-5), name


def test_ball_table_and_metrics_file_agree_with_the_log(learned):
    """tools/test.py prints the ball table under the COCO table and writes
    every figure to --out-metrics; both are the logged values."""
    stdout = learned['proc'].stdout
    assert stdout.index('COCO box AP') < stdout.index(
        'ball: AP by size') < stdout.index('ball: found by centre distance')
    with open(learned['out_metrics']) as f:
        written = json.load(f)
    metrics = learned['metrics']
    for key in ('coco/bbox_mAP', 'coco/ball_mAP_tiny', 'coco/ball_mAP_50_tiny',
                'coco/player_mAP_medium', 'coco/ball_recall_10px',
                'coco/ball_f1_20px', 'coco/ball_count'):
        assert key in written, key
        if written[key] is None:  # NaN: a bin or ratio with nothing in it
            assert metrics[key] != metrics[key], key
        else:
            assert written[key] == pytest.approx(metrics[key]), key
    # the counts are the annotation file's
    with open(osp.join(learned['split'], 'annotations',
                       'annotations.json')) as f:
        coco = json.load(f)
    with_ball = {
        a['image_id']
        for a in coco['annotations'] if a['category_id'] == 2
    }
    assert written['coco/ball_count'] == sum(a['category_id'] == 2
                                             for a in coco['annotations'])
    assert written['coco/ball_empty_frames'] == len(
        coco['images']) - len(with_ball)
    line = next(s for s in stdout.splitlines() if s.startswith('<= 10px'))
    recall = float(line.split()[2])
    if written['coco/ball_recall_10px'] is not None:
        assert recall == pytest.approx(
            written['coco/ball_recall_10px'], abs=5e-5)


@pytest.fixture(scope='module')
def held_out(learned, tmp_path_factory):
    """Frames the model never saw: 48 drawn from another seed, every 10th
    without a ball; with the learned model's detections on each
    (LocalDetector, every score) as COCO results."""
    from field_detr import LocalDetector
    from field_detr.datasets.demo_data import write_split
    split = str(tmp_path_factory.mktemp('held_out'))
    coco = write_split(
        split,
        num_images=48,
        seed=learned['layout']['seed'] + 1000,
        empty_every=10)
    detector = LocalDetector(learned['checkpoint'], 0.0, device='cpu')
    results = []
    for image in coco['images']:
        det = detector.detect(osp.join(split, 'images', image['file_name']))
        for (x1, y1, x2, y2), score, label in zip(det.boxes, det.scores,
                                                  det.labels):
            results.append(
                dict(
                    image_id=image['id'],
                    category_id=int(label) + 1,  # the split's ids are 1, 2
                    bbox=[
                        float(x1),
                        float(y1),
                        float(x2 - x1),
                        float(y2 - y1)
                    ],
                    score=float(score)))
    return dict(
        gt=COCO(osp.join(split, 'annotations', 'annotations.json')),
        results=results)


def test_players_found_on_held_out_frames(held_out):
    """DINO's players carry over to frames it never saw (measured: see
    HELD_OUT_PLAYER_AP50)."""
    ev = COCOeval(held_out['gt'], held_out['gt'].loadRes(held_out['results']),
                  'bbox')
    ev.params.catIds = [1]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[1] >= HELD_OUT_PLAYER_AP50, ev.stats[:3]


def test_ball_found_on_held_out_frames(held_out):
    """The ball head finds the balls of frames it never saw, within 5 px of
    their centre, with few false balls (measured: see BALL_RECALL)."""
    from field_detr.evaluation.ball_metrics import ball_localisation
    gt = held_out['gt']
    frames = []
    for img_id in gt.getImgIds():
        gts = np.array([[
            x, y, x + w, y + h
        ] for x, y, w, h in (a['bbox']
                             for a in gt.loadAnns(gt.getAnnIds([img_id], [2])))
                        ])
        dets = [
            r for r in held_out['results'] if r['image_id'] == img_id
            and r['category_id'] == 2 and r['score'] >= BALL_THRESHOLD
        ]
        boxes = np.array([[x, y, x + w, y + h]
                          for x, y, w, h in (r['bbox'] for r in dets)])
        frames.append((gts.reshape(-1, 4), boxes.reshape(-1, 4),
                       np.array([r['score'] for r in dets])))
    scores = ball_localisation(frames, distances=(5, 10))
    assert scores['ball_count'] >= 36  # the frames do hold balls
    assert scores['ball_recall_5px'] >= BALL_RECALL, scores
    assert scores['ball_precision_5px'] >= BALL_PRECISION, scores
    # a false ball on 0, 0 and 1 of the 8 frames without one (seeds above)
    assert scores['ball_false_rate'] <= 1 / 4, scores
