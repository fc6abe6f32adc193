"""LocalDetector with supervision: Detections round-trip to
``supervision.Detections``, supervision's annotator draws them and ByteTrack
follows the players through a clip (the model is the one the learning test
trains)."""
import numpy as np
import pytest
import supervision as sv

pytestmark = pytest.mark.slow

# ByteTrack's high-confidence threshold, from which its tracks start (the
# small model's scores on players are 0.5-0.8)
TRACK_FROM = 0.5


@pytest.fixture(scope='module')
def detector(learned):
    from field_detr import LocalDetector
    return LocalDetector(
        learned['checkpoint'], confidence_threshold=0.3, device='cpu')


def test_round_trip_and_annotator(detector, learned):
    import glob
    import os.path as osp

    import cv2
    frame = cv2.imread(
        sorted(glob.glob(osp.join(learned['split'], 'images', '*')))[0])
    det = detector.detect(frame)
    assert len(det) > 0
    converted = det.to_supervision()
    assert isinstance(converted, sv.Detections)
    np.testing.assert_array_equal(converted.xyxy, det.boxes)
    np.testing.assert_array_equal(converted.confidence, det.scores)
    np.testing.assert_array_equal(converted.class_id, det.labels)
    assert list(converted.data['class_name']) == det.class_names
    assert set(converted.data['class_name']) <= {'player', 'ball'}

    drawn = sv.BoxAnnotator(thickness=2).annotate(frame.copy(), converted)
    changed = np.any(drawn != frame, axis=2)
    assert changed.any()
    # the pixels drawn lie on the boxes' outlines
    x1, y1, x2, y2 = det.boxes[0].round().astype(int)
    outline = np.zeros_like(changed)
    cv2.rectangle(outline.view(np.uint8), (x1, y1), (x2, y2), 1, 4)
    assert changed[outline].mean() > 0.5


def _followed_ids(detector, frames):
    """Run a clip through LocalDetector, to_supervision(), supervision's NMS
    and ByteTrack; return, per player (rows of the clip's boxes), the
    tracker id of the track on it in each frame after the first (``None``:
    no track with IoU >= 0.5; players and tracks paired one to one); per
    player the most detections on it in one frame (those that overlap it
    more than any other player, with IoU >= 0.3), whether some frame had
    none on it, and whether every frame gave it a clean detection: one on
    it and no other, scored at least ``TRACK_FROM`` and with IoU >= 0.5
    (the box ByteTrack's first stage pairs with his track)."""
    from scipy.optimize import linear_sum_assignment
    from trackers import ByteTrackTracker

    # tracks start from detections >= TRACK_FROM; one detection a frame
    # starts a track
    tracker = ByteTrackTracker(
        track_activation_threshold=TRACK_FROM,
        high_conf_det_threshold=TRACK_FROM,
        minimum_consecutive_frames=1)
    ids = [[] for _ in range(len(frames[0][1]))]
    boxes_on = np.zeros(len(ids), int)
    missed = np.zeros(len(ids), bool)
    clean = np.ones(len(ids), bool)
    for t, (frame, boxes) in enumerate(frames):
        players = detector.detect(frame).to_supervision()
        players = players[players.data['class_name'] == 'player']
        # DETR without NMS: the small model puts a second query on a few
        # players, which would start a second track on them
        players = players.with_nms(threshold=0.5)
        # each detection counted on the player it overlaps most (IoU >= 0.3)
        iou = sv.box_iou_batch(boxes, players.xyxy)
        nearest = iou.argmax(0)[iou.max(0, initial=0) >= 0.3]
        on_each = np.bincount(nearest, minlength=len(boxes))
        boxes_on = np.maximum(boxes_on, on_each)
        missed |= on_each == 0
        sure = (iou >= 0.5) & (players.confidence >= TRACK_FROM)
        clean &= (on_each == 1) & (sure.sum(1) == 1)
        tracks = tracker.update(players)
        tracks = tracks[tracks.tracker_id >= 0]
        if t == 0:  # a track gets its id from its second frame on
            continue
        iou = sv.box_iou_batch(boxes, tracks.xyxy)
        on = {
            i: int(tracks.tracker_id[j])
            for i, j in zip(*linear_sum_assignment(-iou)) if iou[i, j] >= 0.5
        }
        for i in range(len(boxes)):
            ids[i].append(on.get(i))
    return ids, boxes_on, missed, clean


def test_bytetrack_keeps_each_players_id(detector, learned):
    """Each training scene becomes a 12-frame clip in which every player
    walks 3 px a frame and turns back 6 px from where it stood (the model
    trained on these 16 frames only; small moves keep the scenes it
    learned). A player the detector gives one clean box in every frame
    (``_followed_ids``) keeps one tracker id through the clip, and such
    players that never overlap have different ids; most players are
    followed through, few get two boxes, few miss a frame."""
    from field_detr.datasets.demo_data import draw_clip, split_layouts
    followed = players = doubled = lost = cleanly = 0
    for k, (pitch, scene) in enumerate(split_layouts(**learned['layout'])):
        frames = draw_clip(
            pitch, scene, num_frames=12, step_px=3, span_px=6, seed=k)
        ids, boxes_on, missed, clean = _followed_ids(detector, frames)
        overlap = np.zeros(len(ids))
        for _, boxes in frames:
            iou = sv.box_iou_batch(boxes, boxes)
            np.fill_diagonal(iou, 0)
            overlap = np.maximum(overlap, iou.max(axis=1))
        seen = {}
        for player, row in enumerate(ids):
            on = [i for i in row if i is not None]
            doubled += boxes_on[player] > 1
            lost += missed[player]
            followed += len(on) >= 0.75 * len(row)
            if not clean[player]:
                # a frame without a box on him, with a second one (apart
                # enough for NMS to keep both, each starts a track) or with
                # one ByteTrack's first stage does not pair with his track
                # (under TRACK_FROM, or off him): ByteTrack may lose him, or
                # hand his track to a neighbour, whatever it is given
                continue
            cleanly += 1
            # followed in every frame, by one track
            assert len(on) == len(row) and len(set(on)) == 1, (k, player, row)
            if overlap[player] < 0.3:
                assert on[0] not in seen, (k, player, seen[on[0]], ids)
                seen[on[0]] = player
        players += len(ids)
    # measured on the learned model (tests/conftest.py) of two machines: 75
    # of 104 players in at least 9 of the 11 frames, two boxes on 5, a frame
    # without a box on 17; on a third, of trainings at 600 iterations and at
    # 800 with training seeds 42, 1 and 2: 79, 76, 81, 81 followed; 7, 6,
    # 3, 0 doubled; 18, 18, 20, 15 lost; 42, 44, 31, 45 with a clean box in
    # every frame
    assert cleanly >= 25, (cleanly, players)
    assert followed >= 10, (followed, players)
    assert doubled <= players // 5, (doubled, players)
    assert lost <= players // 4, (lost, players)


def test_infer_track_writes_ids_the_balls_path_and_a_video(learned, tmp_path):
    """tools/infer.py --track on a generated clip (players walking and
    crossing, the ball passed and hidden): MOTChallenge files per class that
    Roboflow's trackers read, at most one ball a frame, the ball's path as
    CSV (gap frames marked), a video of the clip's length, one summary
    line; an image with --track is refused with one line."""
    import csv

    import cv2
    from trackers import load_mot_file

    from field_detr.datasets.demo_video import write_clip
    from helpers.runs import run_tool
    clip = tmp_path / 'clip'
    write_clip(str(clip), seed=4, num_frames=40)
    out = tmp_path / 'out'
    proc = run_tool('infer.py', learned['checkpoint'], clip / 'clip.mp4',
                    '--track', '--max-gap', '5', '--out-dir', out)
    players = load_mot_file(out / 'clip_players.txt')
    assert set(players) <= set(range(1, 41)) and len(players) > 30
    ids = {int(i) for frame in players.values() for i in frame.ids}
    # players keep their ids: far fewer ids than player boxes
    rows = sum(len(frame.ids) for frame in players.values())
    assert 0 < len(ids) < rows / 5
    ball = [
        line.split(',')
        for line in (out / 'clip_ball.txt').read_text().splitlines()
    ]
    frames = [int(r[0]) for r in ball]
    assert frames == sorted(set(frames))  # one ball a frame at most
    assert all(r[1] == '1' and r[7] == '2' for r in ball)
    with open(out / 'clip_ball_path.csv') as f:
        path = list(csv.DictReader(f))
    assert [int(r['frame']) for r in path] == frames
    assert {r['filled'] for r in path} <= {'0', '1'}
    cap = cv2.VideoCapture(str(out / 'clip_tracks.mp4'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    # the clip's two teams (white and black shirts): a tracker each
    assert f'clip: 40 frames, {len(ids)} player ids in 2 team(s), the ' \
        f'ball in {len(path)}' in proc.stdout
    ok, frame = cv2.VideoCapture(str(clip / 'clip.mp4')).read()
    cv2.imwrite(str(tmp_path / 'frame.png'), frame)
    refused = run_tool(
        'infer.py',
        learned['checkpoint'],
        tmp_path / 'frame.png',
        '--track',
        check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        'frame.png: --track follows players and the ball through a video, '
        'not an image')
