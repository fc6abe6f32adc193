"""Tiles and box merging of sliced inference (field_detr.inference.slicing), on
hand-made detections. The real model's sliced inference is tested in
test_learning.py, with the model that test trains."""
import numpy as np
import pytest

from field_detr.inference.slicing import (merge_views, parse_tile,
                                          slicing_settings, tile_windows)


@pytest.mark.parametrize('size,tile', [((1280, 768), (640, 384)),
                                       ((1280, 768), (500, 300)),
                                       ((3840, 2160), (1280, 720)),
                                       ((1000, 700), (999, 100))])
def test_tiles_cover_the_frame_and_stay_inside(size, tile):
    width, height = size
    windows = tile_windows(width, height, tile, overlap=0.2)
    covered = np.zeros((height, width), dtype=bool)
    for x1, y1, x2, y2 in windows:
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert (x2 - x1, y2 - y1) == tile  # the last ones moved back inside
        covered[y1:y2, x1:x2] = True
    assert covered.all()


def test_a_frame_within_one_tile_has_no_tiles():
    assert tile_windows(640, 384, (640, 384), 0.2) == []
    assert tile_windows(600, 300, (640, 384), 0.2) == []


def _view(*dets):
    boxes = np.array([d[0] for d in dets], dtype=np.float32).reshape(-1, 4)
    return (boxes, np.array([d[1] for d in dets], dtype=np.float32),
            np.array([d[2] for d in dets], dtype=np.int64))


def test_a_box_cut_by_a_tile_border_comes_out_once():
    """A player at x 600-680 crosses the border of tile 0 (x < 640): tile 0
    sees its left part, tile 1 (x from 512) and the full frame all of it.
    One box comes out: the union, with the highest score and its class. A
    ball nearby (another class) stays apart, and so does a player
    elsewhere."""
    full = _view(([600, 100, 680, 300], 0.7, 0), ([650, 90, 660, 100], 0.6, 1))
    tile0 = _view(([600, 101, 640, 299], 0.8, 0))  # offset (0, 0)
    tile1 = _view(
        ([88, 99, 168, 301], 0.9, 0),  # offset (512, 0)
        ([400, 100, 440, 200], 0.95, 0))
    boxes, scores, labels = merge_views([full, tile0, tile1], [(0, 0), (0, 0),
                                                               (512, 0)],
                                        (768, 1280))
    assert labels.tolist() == [0, 0, 1]
    assert scores.tolist() == pytest.approx([0.95, 0.9, 0.6])
    np.testing.assert_allclose(boxes[0], [912, 100, 952, 200])
    np.testing.assert_allclose(boxes[1], [600, 99, 680, 301])
    np.testing.assert_allclose(boxes[2], [650, 90, 660, 100])


def test_boxes_are_clipped_to_the_frame_and_empty_views_work():
    boxes, scores, labels = merge_views(
        [_view(), _view(([-5, 10, 30, 50], 0.9, 1))], [(0, 0),
                                                       (100, 0)], (64, 128))
    np.testing.assert_allclose(boxes, [[95, 10, 128, 50]])
    empty = merge_views([_view(), _view()], [(0, 0), (0, 0)], (64, 64))
    assert empty[0].shape == (0, 4) and len(empty[1]) == 0


def test_settings_are_checked():
    assert slicing_settings(dict(tile=(640, 384)))['overlap'] == 0.2
    assert parse_tile('1280x720') == (1280, 720)
    for bad in (dict(tile=(640, )), dict(tile=(640, 384), overlap=1.5),
                dict(tile=(640, 384),
                     tiles=2), dict(tile=(640, 384), match_metric='GIOU')):
        with pytest.raises(ValueError, match='slicing'):
            slicing_settings(bad)
    with pytest.raises(ValueError, match='WxH'):
        parse_tile('640')
