"""FieldCocoMetric scores known predictions as COCO would."""
import json

import pytest
import torch

from field_detr.datasets.demo_data import write_split
from field_detr.evaluation.metric import FieldCocoMetric


def _samples(coco, classes=('player', 'ball'), shift=0.0, swap=False):
    """Data samples whose predictions are the ground truth, optionally moved
    by ``shift`` box widths or with player and ball swapped."""
    label_of = {
        c['id']: classes.index(c['name'].lower())
        for c in coco['categories']
    }
    samples = []
    for img in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        boxes = [[x + shift * w, y, x + w + shift * w, y + h]
                 for x, y, w, h in (a['bbox'] for a in anns)]
        labels = [label_of[a['category_id']] for a in anns]
        if swap:
            labels = [1 - label for label in labels]
        samples.append(
            dict(
                img_id=img['id'],
                ori_shape=(img['height'], img['width']),
                pred_instances=dict(
                    bboxes=torch.tensor(boxes,
                                        dtype=torch.float32).reshape(-1, 4),
                    scores=torch.ones(len(anns)),
                    labels=torch.tensor(labels, dtype=torch.long))))
    return samples


def _evaluate(ann_file, samples, **kwargs):
    metric = FieldCocoMetric(ann_file=ann_file, **kwargs)
    metric.dataset_meta = dict(classes=('player', 'ball'))
    metric.process({}, samples)
    return metric.evaluate(len(samples))


@pytest.fixture
def split(tmp_path):
    coco = write_split(str(tmp_path / 's'), 5, seed=3)
    return str(tmp_path / 's' / 'annotations' / 'annotations.json'), coco


def test_ground_truth_as_predictions_scores_one(split):
    ann_file, coco = split
    res = _evaluate(ann_file, _samples(coco))
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'player_mAP',
                'player_mAP_50', 'ball_mAP', 'ball_mAP_75'):
        assert res[f'coco/{key}'] == pytest.approx(1.0), key


def test_boxes_shifted_by_a_width_score_near_zero(split):
    ann_file, coco = split
    res = _evaluate(ann_file, _samples(coco, shift=1.0))
    # only chance overlaps with neighbouring players remain
    assert res['coco/bbox_mAP_50'] < 0.05


def test_swapped_classes_score_zero(split):
    ann_file, coco = split
    res = _evaluate(ann_file, _samples(coco, swap=True))
    assert res['coco/bbox_mAP'] == 0.0


def test_category_ids_follow_the_file(tmp_path, split):
    """Ball listed first with id 0: labels still map by name, and the
    results file carries the dataset's own ids."""
    ann_file, coco = split
    for ann in coco['annotations']:
        ann['category_id'] = {1: 7, 2: 0}[ann['category_id']]
    coco['categories'] = [dict(id=0, name='Ball'), dict(id=7, name='Player')]
    with open(ann_file, 'w') as f:
        json.dump(coco, f)
    prefix = str(tmp_path / 'out')
    res = _evaluate(ann_file, _samples(coco), outfile_prefix=prefix)
    assert res['coco/bbox_mAP'] == pytest.approx(1.0)
    with open(prefix + '.bbox.json') as f:
        dets = json.load(f)
    assert {d['category_id'] for d in dets} == {0, 7}


def test_no_detection_at_all_scores_zero(split):
    ann_file, coco = split
    samples = _samples(coco)
    for s in samples:
        s['pred_instances'] = dict(
            bboxes=torch.zeros(0, 4),
            scores=torch.zeros(0),
            labels=torch.zeros(0, dtype=torch.long))
    res = _evaluate(ann_file, samples)
    assert res['coco/bbox_mAP'] == 0.0 and res['coco/ball_mAP_50'] == 0.0


@pytest.mark.parametrize('backend', ['pycocotools', 'faster_coco_eval'])
def test_best_player_threshold_cuts_the_false_boxes(split, backend):
    """Every true player box at 0.8, as many false ones at 0.4 (moved a
    width away): F1 at IoU 0.5 is best from 0.8 (all found, none false),
    and the threshold is reported from there (the ball has its own, by
    centre distance)."""
    ann_file, coco = split
    samples = _samples(coco)
    for sample, moved in zip(samples, _samples(coco, shift=1.0)):
        pred, false = sample['pred_instances'], moved['pred_instances']
        players = false['labels'] == 0
        pred['bboxes'] = torch.cat([pred['bboxes'], false['bboxes'][players]])
        pred['scores'] = torch.cat(
            [pred['scores'] * 0.8,
             torch.full((int(players.sum()), ), 0.4)])
        pred['labels'] = torch.cat([pred['labels'], false['labels'][players]])
    res = _evaluate(ann_file, samples, backend=backend)
    assert res['coco/player_best_thr'] == pytest.approx(0.8)
    assert res['coco/player_best_f1_iou50'] == pytest.approx(1.0)
    assert 'coco/ball_best_f1_iou50' not in res
