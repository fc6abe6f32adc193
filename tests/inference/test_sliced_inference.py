"""Sliced inference with the real model (the one the learning test
trains): LocalDetector's batched full-frame-plus-tiles run equals running
the model on every tile yourself and merging with SAHI."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest

from helpers.runs import run_tool, run_tool_process

pytestmark = pytest.mark.slow

TILE = (640, 384)


@pytest.fixture(scope='module')
def detector(learned):
    from field_detr import LocalDetector
    return LocalDetector(
        learned['checkpoint'], confidence_threshold=0.3, device='cpu')


@pytest.fixture(scope='module')
def frames(learned):
    """The learned split's frames upscaled 2x (1280x768): tiles of 640x384
    at overlap 0.2 do not divide it (the last column and row move back)."""
    paths = sorted(glob.glob(osp.join(learned['split'], 'images', '*')))
    return [cv2.resize(cv2.imread(p), (1280, 768)) for p in paths[:2]]


def _by_hand(detector, frame, tile, overlap):
    """The model on the full frame and on each tile, one at a time, boxes
    moved to the frame and merged with SAHI's own postprocess."""
    from sahi.postprocess.combine import GreedyNMMPostprocess
    from sahi.prediction import ObjectPrediction
    from sahi.slicing import get_slice_bboxes
    height, width = frame.shape[:2]
    windows = [[0, 0, width, height]] + get_slice_bboxes(
        image_height=height,
        image_width=width,
        slice_height=tile[1],
        slice_width=tile[0],
        overlap_height_ratio=overlap,
        overlap_width_ratio=overlap)
    preds = []
    for x1, y1, x2, y2 in windows:
        det = detector.detect(np.ascontiguousarray(frame[y1:y2, x1:x2]))
        for box, score, label in zip(det.boxes, det.scores, det.labels):
            box = np.clip(box + [x1, y1, x1, y1], 0, [width, height] * 2)
            preds.append(
                ObjectPrediction(
                    bbox=box.tolist(),
                    category_id=int(label),
                    score=float(score),
                    category_name=str(label),
                    full_shape=[height, width]))
    merged = GreedyNMMPostprocess(
        match_threshold=0.5, match_metric='IOS', class_agnostic=False)(
            preds)
    merged.sort(key=lambda p: -p.score.value)
    return (np.array([p.bbox.to_xyxy() for p in merged]).reshape(-1, 4),
            np.array([p.score.value for p in merged]),
            np.array([p.category.id for p in merged]))


def _same(det, boxes, scores, labels):
    assert len(det) == len(scores) > 0
    # tiles run batched here and one by one by hand: float noise only
    np.testing.assert_allclose(det.scores, scores, atol=1e-4)
    np.testing.assert_allclose(det.boxes, boxes, atol=0.05)
    assert det.labels.tolist() == labels.tolist()


def test_sliced_equals_tiles_run_by_hand_and_merged(detector, frames):
    slicing = dict(tile=TILE, overlap=0.2)
    for frame in frames:
        _same(
            detector.detect(frame, slicing=slicing),
            *_by_hand(detector, frame, TILE, 0.2))


def test_odd_tile_sizes(detector, frames):
    """A tile that divides nothing, and a frame with one tile column."""
    for tile in ((500, 300), (1280, 400)):
        slicing = dict(tile=tile, overlap=0.25)
        det = detector.detect(frames[0], slicing=slicing)
        _same(det, *_by_hand(detector, frames[0], tile, 0.25))
        assert (det.boxes[:, 2] <= 1280).all()
        assert (det.boxes[:, 3] <= 768).all()


def test_batch_and_single_frame_agree(detector, frames):
    from field_detr import LocalDetector
    sliced = LocalDetector(
        detector.model_path,
        confidence_threshold=0.3,
        device='cpu',
        slicing=dict(tile=TILE))
    batch = sliced.detect_batch(frames, batch_size=2)
    for frame, det in zip(frames, batch):
        single = sliced.detect(frame)
        np.testing.assert_allclose(det.boxes, single.boxes, atol=1e-3)
        np.testing.assert_allclose(det.scores, single.scores, atol=1e-5)
    # slicing={} turns it off for one call: the plain full-frame result
    plain = sliced.detect(frames[0], slicing={})
    reference = detector.detect(frames[0])
    np.testing.assert_allclose(plain.boxes, reference.boxes, atol=1e-3)


def test_players_found_on_the_full_frame_are_kept(detector, frames):
    """The players the full-frame pass finds are not lost with slicing: each
    full-frame box lies inside a sliced box, bar a few. SAHI's greedy
    merging grows the box a detection merges into to contain it, but drops a
    detection whose match no longer holds when it is merged, which this
    model's many extra tile detections (it never trained on tiles) make
    happen. Counted over both frames (9 and 6 players drawn), so that the
    claim rests on at least 10 boxes whatever sample of the recipe the
    learned model is (CPU training is not bit-exact across machines):
    measured, 15 of 15 (an earlier model: 20 of 22 boxes on the first
    frame, the other two 0.28 and 0.67 inside one). That a box cut by a
    tile border comes out once is test_slicing.py's hand-made case."""
    import torch
    from mmdet.structures.bbox import bbox_overlaps
    inside = []
    for frame in frames:
        plain = detector.detect(frame)
        sliced = detector.detect(frame, slicing=dict(tile=TILE))
        players = plain.boxes[plain.labels == 0]
        inside.extend(
            bbox_overlaps(
                torch.tensor(players, dtype=torch.float32).reshape(-1, 4),
                torch.tensor(
                    sliced.boxes[sliced.labels == 0],
                    dtype=torch.float32).reshape(-1, 4),
                mode='iof').numpy().max(axis=1, initial=0.0))
    assert len(inside) >= 10
    inside = np.array(inside)
    assert (inside >= 0.99).mean() >= 0.8, inside


def test_infer_tool_slices(learned, tmp_path):
    frame = str(tmp_path / 'frame.jpg')
    cv2.imwrite(
        frame,
        cv2.resize(
            cv2.imread(
                sorted(glob.glob(osp.join(learned['split'], 'images',
                                          '*')))[0]), (1280, 768)))
    out = tmp_path / 'out'
    proc = run_tool('infer.py', learned['checkpoint'], frame, '--out-dir',
                    str(out), '--slice', '640x384', '--overlap', '0.2',
                    '--threshold', '0.3')
    assert '1 images/frames' in proc.stdout
    assert (out / 'frame.jpg').exists() and (out / 'detections.json').exists()
    # the command line itself: a process, its exit status and one line
    bad = run_tool_process(
        'infer.py', learned['checkpoint'], frame, '--slice', '64', check=False)
    assert bad.returncode == 2 and 'WxH' in bad.stderr
