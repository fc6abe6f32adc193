"""The synthetic pitch's clips: they start from the split's own images,
players move as asked, and the boxes are where the players are drawn."""
import json
import os.path as osp

import cv2
import numpy as np

from field_detr.datasets.demo_data import draw_clip, split_layouts, write_split


def test_clip_starts_from_the_split_image_and_moves_as_asked(tmp_path):
    layout = dict(num_images=3, seed=11, empty_every=3)
    coco = write_split(str(tmp_path), **layout)
    layouts = list(split_layouts(**layout))
    assert layouts[2][1] is None  # the empty image
    pitch, scene = layouts[0]
    frames = draw_clip(pitch, scene, num_frames=10, step_px=2, span_px=6)

    # frame 0 is image 0 of the split (JPEG aside: compared blurred, the
    # pixel noise averaged out; image 1 differs by ~28), its boxes the
    # players'
    def blurred(img):
        return cv2.blur(img.astype(np.float32), (7, 7))

    written = cv2.imread(osp.join(str(tmp_path), 'images', '000000.jpg'))
    assert np.abs(blurred(written) - blurred(frames[0][0])).mean() < 2
    players = sorted(a['bbox'] for a in coco['annotations']
                     if a['image_id'] == 1 and a['category_id'] == 1)
    xywh = frames[0][1].copy()
    xywh[:, 2:] -= xywh[:, :2]
    np.testing.assert_allclose(sorted(xywh.tolist()), players, atol=0.01)

    centres = np.stack([(b[:, :2] + b[:, 2:]) / 2 for _, b in frames])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=2)
    from_start = np.linalg.norm(centres - centres[0], axis=2)
    # boxes are rounded to 0.01 px; clipped at the image border they move less
    assert steps.max() <= 2.02 and np.median(steps) > 1.9
    # out 6 px (frame 3), back at the start (frame 6), out the other way
    assert from_start.max() <= 6.02 and from_start.max() > 5.9
    assert from_start[6].max() < 0.02 and from_start[9].max() > 5.9

    # what is drawn on the pitch lies inside the players' and ball's boxes
    # (thick leg lines end a pixel or two past the feet: 1-2 % of it)
    for frame, boxes in frames:
        inside = np.zeros(frame.shape[:2], bool)
        for x1, y1, x2, y2 in boxes.round().astype(int):
            inside[max(0, y1 - 1):y2 + 2, max(0, x1 - 1):x2 + 2] = True
        bx, by, r = scene['ball']
        inside[int(by - r) - 2:int(by + r) + 3,
               int(bx - r) - 2:int(bx + r) + 3] = True
        drawn = np.any(frame != pitch, axis=2)
        assert drawn.any()
        assert (drawn & ~inside).sum() < 0.05 * drawn.sum()


def test_split_layouts_is_what_write_split_draws(tmp_path):
    """Same seed, same scenes: the annotation file's player count per image
    is the layout's."""
    layout = dict(num_images=6, seed=3, empty_every=4)
    write_split(str(tmp_path), **layout)
    with open(osp.join(str(tmp_path), 'annotations', 'annotations.json')) as f:
        coco = json.load(f)
    for i, (_, scene) in enumerate(split_layouts(**layout)):
        count = sum(a['image_id'] == i + 1 and a['category_id'] == 1
                    for a in coco['annotations'])
        assert count == (0 if scene is None else len(scene['players']))


def test_hard_balls_are_small_grey_streaked_and_some_under_a_leg(tmp_path):
    """hard_balls=True: the same pitches and players as without it, a
    smaller ball (1.5-3.5 px radius), grey (no pixel it changes as bright
    as the easy ball's white), streaked (some boxes longer one way than the
    other) and, in some scenes, drawn before the player at whose feet it
    lies, whose leg then covers part of it."""
    from field_detr.datasets.demo_data import _draw_objects
    layout = dict(num_images=30, seed=5, empty_every=0)
    easy = list(split_layouts(**layout))
    hard = list(split_layouts(**layout, hard_balls=True))
    under = hidden = 0
    for (easy_pitch, easy_scene), (pitch, scene) in zip(easy, hard):
        assert np.array_equal(easy_pitch, pitch)
        assert easy_scene['players'] == scene['players']
        assert 'ball_style' not in easy_scene
        if scene['ball'] is None:
            continue
        assert 1.5 <= scene['ball'][2] <= 3.5
        drawn, without = pitch.copy(), pitch.copy()
        _draw_objects(drawn, scene)
        _draw_objects(without, dict(scene, ball=None))
        changed = (drawn != without).any(axis=2)
        style = scene['ball_style']
        assert changed.any() or style['under'] is not None
        assert not changed.any() or drawn[changed].max() < 235
        if style['under'] is not None:
            under += 1
            # the ball alone on the pitch: more of it shows
            alone = pitch.copy()
            _draw_objects(
                alone,
                dict(scene, ball_style=dict(style, under=None), players=[]))
            hidden += (alone != pitch).any(axis=2).sum() > changed.sum()
    coco = write_split(str(tmp_path), **layout, hard_balls=True)
    streaked = sum(
        max(a['bbox'][2:]) > 1.5 * min(a['bbox'][2:])
        for a in coco['annotations'] if a['category_id'] == 2)
    assert under >= 5 and hidden == under and streaked >= 5, (under, hidden,
                                                              streaked)


def test_a_hard_ball_a_nearer_player_wholly_hides_is_not_annotated():
    """A ball drawn under a player's leg and then covered whole by a
    nearer player shows no pixel: the frame has no ball to annotate. The
    same ball with the nearer player elsewhere shows and is annotated."""
    from field_detr.datasets.demo_data import _draw_objects, _draw_pitch
    pitch = _draw_pitch(np.random.default_rng(0), 640, 384)
    style = dict(grey=180, streak=(0.0, 0.0), under=0)
    ball = (200 + 0.136 * 120 + 1.0, 300 - 0.03 * 120, 3.0)

    def drawn(nearer_x):
        scene = dict(
            teams=[(40, 40, 220), (220, 80, 30)],
            players=[(200.0, 300.0, 120.0, 0), (nearer_x, 310.0, 160.0, 1)],
            ball=ball,
            ball_style=style)
        img, without = pitch.copy(), pitch.copy()
        objects = _draw_objects(img, scene)
        _draw_objects(without, dict(scene, ball=None))
        return [c for c, _ in objects], np.array_equal(img, without)

    assert drawn(200.0) == ([1, 1], True)
    assert drawn(400.0) == ([2, 1, 1], False)
