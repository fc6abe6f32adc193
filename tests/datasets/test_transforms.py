"""BallCopyPaste: copies of the frame's ball pasted where there is no box;
SyntheticBalls: balls drawn onto the frame, each a ball box."""
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


def _grass(player=(100, 50, 180, 250)):
    img = np.full((384, 640, 3), (40, 140, 40), np.uint8)
    return dict(
        img=img,
        gt_bboxes=HorizontalBoxes(np.array([player], np.float32)),
        gt_bboxes_labels=np.array([0]),
        gt_ignore_flags=np.zeros(1, bool))


def test_synthetic_balls_are_drawn_where_their_boxes_say():
    """Each drawn ball is a new ball box 4 sigma across, centred on a blob
    of the ball's grey; with ``feet=1`` every one lies at a bottom corner of
    the player's box; a smear makes the box longer and the blob fainter;
    bad ranges are refused."""
    from field_detr.datasets.transforms import SyntheticBalls
    np.random.seed(0)
    grass = _grass()
    out = SyntheticBalls(
        count=(5, 5), sigma=(1.5, 1.5), grey=(250, 250), streak=(0, 0))(
            _grass())
    new = out['gt_bboxes'].numpy()[1:]
    assert len(new) == 5 and (out['gt_bboxes_labels'][1:] == BALL).all()
    assert len(out['gt_ignore_flags']) == 6
    np.testing.assert_allclose(new[:, 2] - new[:, 0], 6.0, atol=1e-4)
    np.testing.assert_allclose(new[:, 3] - new[:, 1], 6.0, atol=1e-4)
    centres = ((new[:, :2] + new[:, 2:]) / 2).round().astype(int)
    for x, y in centres:
        # at least 0.7 of the way from the grass to the ball's grey
        assert out['img'][y, x, 0] >= 40 + 0.7 * 0.85 * (250 - 40)
    changed = (out['img'] != grass['img']).any(axis=2)
    near = np.zeros_like(changed)
    for x1, y1, x2, y2 in new.astype(int):
        near[max(0, y1 - 4):y2 + 5, max(0, x1 - 4):x2 + 5] = True
    assert changed.any() and not (changed & ~near).any()

    at_feet = SyntheticBalls(count=(6, 6), feet=1.0)(_grass())
    centres = at_feet['gt_bboxes'].numpy()[1:]
    centres = (centres[:, :2] + centres[:, 2:]) / 2
    assert len(centres) == 6
    assert (np.minimum(abs(centres[:, 0] - 100), abs(centres[:, 0] - 180))
            <= 2).all()
    assert ((centres[:, 1] >= 250 - 0.06 * 200 - 1e-3) &
            (centres[:, 1] <= 250)).all()

    smeared = SyntheticBalls(
        count=(1, 1),
        sigma=(1.5, 1.5),
        grey=(250, 250),
        streak=(12, 12),
        feet=0.0)(
            _grass())
    x1, y1, x2, y2 = smeared['gt_bboxes'].numpy()[1]
    assert np.hypot(x2 - x1 - 6, y2 - y1 - 6) == pytest.approx(12, abs=1e-3)
    cx, cy = int(round((x1 + x2) / 2)), int(round((y1 + y2) / 2))
    assert smeared['img'][cy, cx, 0] < 40 + 0.5 * (250 - 40)

    unchanged = SyntheticBalls(prob=0.0)(_grass())
    assert np.array_equal(unchanged['img'], grass['img'])
    assert len(unchanged['gt_bboxes']) == 1
    for bad in (dict(count=(3, 1)), dict(sigma=(0, 1)), dict(feet=2.0),
                dict(grey=(-1, 10))):
        with pytest.raises(ValueError, match='SyntheticBalls'):
            SyntheticBalls(**bad)
