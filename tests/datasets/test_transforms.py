"""BallCopyPaste: copies of the frame's ball pasted where there is no box."""
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

BALL = 1


def results(with_ball=True):
    boxes = [[100, 50, 180, 250]]  # a player
    labels = [0]
    if with_ball:
        boxes.append([500, 300, 510, 310])
        labels.append(BALL)
    return dict(
        img=np.zeros((384, 640, 3), np.uint8),
        img_shape=(384, 640),
        gt_bboxes=HorizontalBoxes(np.array(boxes, np.float32)),
        gt_bboxes_labels=np.array(labels, np.int64),
        gt_ignore_flags=np.zeros(len(labels), bool))


def test_copies_of_the_ball_are_pasted_where_there_is_no_box():
    from field_detr.datasets.demo_data import draw_scene
    from field_detr.datasets.transforms import BallCopyPaste
    img, objects = draw_scene(
        np.random.default_rng(0),
        scene=dict(
            teams=[(40, 40, 220), (220, 80, 30)],
            players=[(200, 300, 120, 0)],
            ball=(500, 300, 5)))
    boxes = np.array([[x, y, x + w, y + h] for _, (x, y, w, h) in objects],
                     np.float32)
    labels = np.array([c - 1 for c, _ in objects])
    np.random.seed(0)
    paste = BallCopyPaste(copies=(3, 3), scale=(1.0, 1.0), prob=1.0)
    out = paste(
        dict(
            img=img.copy(),
            gt_bboxes=HorizontalBoxes(boxes),
            gt_bboxes_labels=labels,
            gt_ignore_flags=np.zeros(len(labels), bool)))
    new = out['gt_bboxes'].numpy()[len(boxes):]
    assert len(new) == 3 and (out['gt_bboxes_labels'][len(boxes):]
                              == BALL).all()
    assert len(out['gt_ignore_flags']) == len(boxes) + 3
    ball = np.round(boxes[1]).astype(int)
    src = img[ball[1]:ball[3], ball[0]:ball[2]].astype(int)
    for x1, y1, x2, y2 in new.astype(int):
        # the same ball (its centre pixels), on grass where no box was
        copy = out['img'][y1:y2, x1:x2].astype(int)
        assert copy.shape == src.shape
        c = src.shape[0] // 2
        assert np.abs(copy[c - 1:c + 2, c - 1:c + 2] -
                      src[c - 1:c + 2, c - 1:c + 2]).max() == 0
        for other in np.concatenate([boxes, new]):
            if (other == [x1, y1, x2, y2]).all():
                continue
            assert (x2 <= other[0] or other[2] <= x1 or y2 <= other[1]
                    or other[3] <= y1)
    # no ball, or prob 0: unchanged
    no_ball = dict(
        img=img.copy(),
        gt_bboxes=HorizontalBoxes(boxes[:1]),
        gt_bboxes_labels=labels[:1])
    assert len(paste(no_ball)['gt_bboxes']) == 1
    unchanged = BallCopyPaste(prob=0.0)(
        dict(
            img=img.copy(),
            gt_bboxes=HorizontalBoxes(boxes),
            gt_bboxes_labels=labels))
    assert np.array_equal(unchanged['img'], img)


def test_copies_over_players_only_when_asked():
    """A player filling the frame leaves no free place: no copy by default;
    with ``over_players`` three copies lie over the player, none over a
    ball, and the player's box stays."""
    from field_detr.datasets.transforms import BallCopyPaste
    img = np.full((96, 160, 3), 90, np.uint8)
    img[44:52, 76:84] = 250
    boxes = np.array([[0, 0, 160, 96], [76, 44, 84, 52]], np.float32)
    labels = np.array([0, BALL])

    def paste(**kwargs):
        np.random.seed(0)
        return BallCopyPaste(
            copies=(3, 3), prob=1.0, **kwargs)(
                dict(
                    img=img.copy(),
                    gt_bboxes=HorizontalBoxes(boxes),
                    gt_bboxes_labels=labels))

    assert len(paste()['gt_bboxes']) == 2
    out = paste(over_players=True)
    got = out['gt_bboxes'].numpy()
    assert np.array_equal(got[:2], boxes) and len(got) == 5
    assert (out['gt_bboxes_labels'][2:] == BALL).all()
    for i, (x1, y1, x2, y2) in enumerate(got[1:]):
        for j, other in enumerate(got[1:]):
            if i != j:
                assert (x2 <= other[0] or other[2] <= x1 or y2 <= other[1]
                        or other[3] <= y1)
