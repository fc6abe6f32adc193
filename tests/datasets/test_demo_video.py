"""The generated match clips: the ground truth matches what is drawn, the
same seed draws the same clip, and the clip holds what the tracking
benchmark needs (crossings, players leaving, a hidden ball)."""
import itertools
import json
import os.path as osp

import cv2
import numpy as np

from field_detr.datasets.demo_video import write_clip


def mot(path):
    return np.loadtxt(path, delimiter=',', ndmin=2)


def test_a_clip_and_its_ground_truth(tmp_path):
    events = write_clip(str(tmp_path / 'a'), seed=3, num_frames=120)
    cap = cv2.VideoCapture(str(tmp_path / 'a' / 'clip.mp4'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 120
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH),
            cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 384)
    players = mot(tmp_path / 'a' / 'gt' / 'players.txt')
    ball = mot(tmp_path / 'a' / 'gt' / 'ball.txt')
    assert set(players[:, 7]) == {1} and set(ball[:, 7]) == {2}
    assert players[:, 0].min() == 1 and players[:, 0].max() == 120
    # one row per player per frame at most; ids 1..10
    keys = [(int(f), int(i)) for f, i in players[:, :2]]
    assert len(keys) == len(set(keys))
    assert set(players[:, 1]) <= set(range(1, 11))
    # boxes inside the frame
    assert (players[:, 2] >= 0).all() and (players[:, 3] >= 0).all()
    assert (players[:, 2] + players[:, 4] <= 640 + 1e-6).all()
    # one ball a frame; hidden exactly on the frames the events name,
    # in runs of 3 to 8 frames (the last may be cut by the clip's end)
    assert list(ball[:, 0]) == list(range(1, 121))
    hidden = [int(f) for f, v in zip(ball[:, 0], ball[:, 8]) if v == 0]
    assert hidden == events['ball_hidden_frames']
    runs = [
        len(list(g)) for _, g in itertools.groupby(
            enumerate(hidden), lambda x: x[1] - x[0])
    ]
    assert all(r <= 8 for r in runs)
    assert all(r >= 3 for r in runs[:-1])
    with open(tmp_path / 'a' / 'gt' / 'events.json') as f:
        assert json.load(f) == events
    assert events['crossings'] > 0


def test_the_same_seed_draws_the_same_clip(tmp_path):
    for name in ('a', 'b'):
        write_clip(str(tmp_path / name), seed=5, num_frames=30)
    for name in ('players.txt', 'ball.txt', 'events.json'):
        assert (tmp_path / 'a' / 'gt' / name).read_text() == \
            (tmp_path / 'b' / 'gt' / name).read_text()
    write_clip(str(tmp_path / 'c'), seed=6, num_frames=30)
    assert (tmp_path / 'a' / 'gt' / 'players.txt').read_text() != \
        (tmp_path / 'c' / 'gt' / 'players.txt').read_text()


def test_players_leave_the_frame_and_come_back(tmp_path):
    """Over a longer clip some id is missing for a while and back."""
    write_clip(str(tmp_path / 'a'), seed=1, num_frames=500)
    players = mot(tmp_path / 'a' / 'gt' / 'players.txt')
    back = 0
    for pid in set(players[:, 1]):
        frames = np.sort(players[players[:, 1] == pid, 0])
        back += bool((np.diff(frames) > 1).any())
    assert back >= 1
    assert osp.getsize(tmp_path / 'a' / 'clip.mp4') > 100_000


def test_a_split_of_clip_frames(tmp_path):
    """``make_demo_data.py --from-clips``: every 10th frame of generated
    clips as train and val splits that the project's data checks accept;
    the frames are clips' (ten players each, crossing), none of them a
    ``--video`` clip's frame; a split is never overwritten."""
    from field_detr.datasets.validation import load_coco_split, split_paths
    from helpers.runs import run_tool
    out = tmp_path / 'clips'
    proc = run_tool('make_demo_data.py', '--from-clips', '--train', '60',
                    '--val', '5', '--out', out)
    for name, count in (('train', 60), ('val', 5)):
        ann_file, img_dir = split_paths(str(out / name))
        load_coco_split(ann_file, img_dir)  # raises on a bad record
        with open(ann_file) as f:
            coco = json.load(f)
        assert len(coco['images']) == count
        per_image = np.bincount([
            a['image_id'] for a in coco['annotations'] if a['category_id'] == 1
        ])
        assert per_image[1:].max() <= 10 and per_image[1:].mean() >= 8
        balls = [a for a in coco['annotations'] if a['category_id'] == 2]
        assert 0 < len(balls) <= count  # one a frame at most; hidden: none
    # not the frames of the --video clip of the same seed
    with open(out / 'train' / 'annotations' / 'annotations.json') as f:
        train = json.load(f)
    write_clip(str(tmp_path / 'clip'), seed=0, num_frames=10)
    clip_10 = mot(tmp_path / 'clip' / 'gt' / 'players.txt')
    clip_10 = sorted(map(tuple, clip_10[clip_10[:, 0] == 10][:, 2:6]))
    first = sorted(
        tuple(a['bbox']) for a in train['annotations']
        if a['image_id'] == 1 and a['category_id'] == 1)
    assert first != clip_10
    assert 'written to' in proc.stdout
    again = run_tool(
        'make_demo_data.py', '--from-clips', '--out', out, check=False)
    assert again.returncode != 0 and 'already exists' in again.stderr


def test_a_split_of_clip_frames_further_apart(tmp_path):
    """``--from-clips --every 50``: every 50th frame of each clip, so ten
    frames a clip and the 11th image from the next clip; ``--every``
    without ``--from-clips``, or beyond a clip, is refused."""
    from field_detr.datasets.demo_video import _draw_frames
    from helpers.runs import run_tool
    out = tmp_path / 'clips'
    run_tool('make_demo_data.py', '--from-clips', '--every', '50', '--train',
             '12', '--val', '1', '--out', out)
    with open(out / 'train' / 'annotations' / 'annotations.json') as f:
        train = json.load(f)
    assert len(train['images']) == 12

    def players(image_id):
        return sorted(
            tuple(a['bbox']) for a in train['annotations']
            if a['image_id'] == image_id and a['category_id'] == 1)

    for image_id, clip in ((1, 0), (11, 1)):
        # frame 50 of the split's clip ``clip`` (seed 0)
        frames = _draw_frames([0, 2026, 1, clip], 50, (640, 384), 10, False)
        boxes = list(frames)[-1][1]
        assert players(image_id) == sorted(map(tuple, boxes.values()))
    assert players(2) != players(1)
    for args, message in ((('--every', '20'), '--from-clips'),
                          (('--from-clips', '--every', '0'), '1 to 500')):
        proc = run_tool(
            'make_demo_data.py', *args, '--out', tmp_path / 'x', check=False)
        assert proc.returncode != 0 and message in proc.stderr
