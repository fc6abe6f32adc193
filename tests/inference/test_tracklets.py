"""Joining a player's track pieces, cutting them where teammates cross, and
filling the frames it was missed."""
import pytest

from field_detr.inference.tracklets import (FILLED, fill_gaps, join_reentries,
                                            join_tracklets, split_at_contacts)


def _walk(tid, frames, x0=100.0, vx=3.0, y=200.0, h=80.0):
    """A player walking right at ``vx`` px a frame, as tracker rows."""
    return [(f, tid, x0 + vx * f - 15, y - h, x0 + vx * f + 15, y, 0.9)
            for f in frames]


def test_a_track_resumed_where_its_motion_leads_is_joined_and_filled():
    rows = _walk(1, range(1, 21)) + _walk(7, range(31, 50))
    joined = join_tracklets(rows, {1: 0, 7: 0})
    assert {r[1] for r in joined} == {1}
    filled = fill_gaps(joined)
    assert [r[0] for r in filled] == list(range(1, 50))
    gap = [r for r in filled if 20 < r[0] < 31]
    assert all(r[6] == FILLED for r in gap)
    # on the line between the two sightings: the walk itself
    truth = {r[0]: r for r in _walk(1, range(21, 31))}
    assert all(abs(r[2] - truth[r[0]][2]) < 1e-6 for r in gap)


def test_other_team_far_away_late_or_another_size_is_not_joined():
    first = _walk(1, range(1, 21))
    cases = [  # (what, the second piece, whether of the other team)
        ('other team', _walk(2, range(31, 50)), True),
        ('far away', _walk(2, range(31, 50), y=300.0), False),
        ('too late', _walk(2, range(90, 99)), False),
        ('another size', _walk(2, range(31, 50), h=130.0), False),
    ]
    for name, second, other_team in cases:
        joined = join_tracklets(first + second, {1: 0, 2: int(other_team)})
        assert {r[1] for r in joined} == {1, 2}, name


def test_each_end_joins_one_start():
    """Two pieces start where one track ended: the nearer one is joined,
    the other keeps its id."""
    rows = (
        _walk(1, range(1, 21)) + _walk(2, range(25, 40)) +
        _walk(3, range(25, 40), y=215.0))
    joined = join_tracklets(rows, {})
    assert sorted({r[1] for r in joined}) == [1, 3]
    # the 4 frames between 20 and 25 are filled, not where gaps of 3 are
    assert len(fill_gaps(joined, max_gap=5)) == len(joined) + 4
    assert fill_gaps(joined, max_gap=3) == joined


def _at_side(tid, frames, x1, y=200.0, h=80.0):
    """A player standing at ``x1`` (the left side at 0, the right side at
    ``WIDTH - 30``), as tracker rows."""
    return [(f, tid, x1, y - h, x1 + 30, y, 0.9) for f in frames]


WIDTH = 640


def test_a_player_back_in_where_he_left_the_picture_keeps_his_id():
    out = _walk(1, range(1, 31), vx=-3.0)  # walks out at the left
    assert out[0][2] > 15 and out[-1][2] <= 0
    # 170 frames later, his feet two heights lower: players come back in
    # well above or below where they left, and after more than 6 s
    back = _at_side(5, range(200, 220), 2.0, y=360.0)
    joined = join_reentries(out + back, {1: 0, 5: 0}, WIDTH)
    assert {r[1] for r in joined} == {1}
    # out of the picture, not missed: nothing filled between
    assert fill_gaps(joined) == joined


def test_who_comes_back_elsewhere_late_or_of_the_other_team_is_new():
    out = _at_side(1, range(1, 31), 0.0)
    cases = [  # (what, the piece that comes in, whether of the other team)
        ('other team', _at_side(2, range(60, 80), 0.0), True),
        ('other side', _at_side(2, range(60, 80), WIDTH - 30.0), False),
        # feet more than three heights (80 px) from where he left
        ('other height', _at_side(2, range(60, 80), 0.0, y=450.0), False),
        ('too late', _at_side(2, range(240, 260), 0.0), False),
        ('mid-picture', _at_side(2, range(60, 80), 300.0), False),
    ]
    for name, back, other_team in cases:
        joined = join_reentries(out + back, {1: 0, 2: int(other_team)}, WIDTH)
        assert {r[1] for r in joined} == {1, 2}, name
    # a track that ends mid-picture is not one that left it
    inside = _at_side(1, range(1, 31), 300.0)
    joined = join_reentries(inside + _at_side(2, range(60, 80), 0.0), {},
                            WIDTH)
    assert {r[1] for r in joined} == {1, 2}


def test_two_who_left_one_side_each_come_back_at_their_height():
    rows = (
        _at_side(1, range(1, 31), 0.0, y=150.0) +
        _at_side(2, range(1, 41), 0.0, y=300.0) +
        _at_side(3, range(90, 99), 0.0, y=290.0) +
        _at_side(4, range(100, 120), 0.0, y=160.0))
    ids = {(r[0], r[5]): r[1] for r in join_reentries(rows, {}, WIDTH)}
    assert ids[(95, 290.0)] == 2 and ids[(110, 160.0)] == 1


def _path(tid, points, h=80.0):
    """Tracker rows of a player whose feet are at ``points[f]`` in frame
    ``f`` (a dict)."""
    return [(f, tid, x - 15, y - h, x + 15, y, 0.9)
            for f, (x, y) in sorted(points.items())]


def _through(rows, max_gap=50):
    """The players' post-processing of ``track_video``: cut at teammates,
    join, fill."""
    pieces = split_at_contacts(rows, {}, max_run=max_gap)
    joined = join_tracklets(
        pieces.rows, pieces.teams, max_gap, cut_from=pieces.cut_from)
    return fill_gaps(joined, max_gap)


def _ids(rows, points):
    """The ids of the rows nearest the player at ``points``, frame by
    frame."""
    ids = set()
    for f, (x, y) in points.items():
        here = [r for r in rows if r[0] == f]
        ids.add(min(here, key=lambda r: abs(r[2] + 15 - x) + abs(r[5] - y))[1])
    return ids


FRAMES = range(1, 61)
# teammates walking at each other along a line, crossing at frame 30
LEFT = {f: (100.0 + 3 * f, 200.0) for f in FRAMES}
RIGHT = {f: (280.0 - 3 * f, 204.0) for f in FRAMES}


@pytest.mark.parametrize('swapped', [True, False])
def test_teammates_who_cross_come_out_on_their_own_lines(swapped):
    """The online tracker followed the wrong one out of the crossing (or
    the right one): each player ends with one id from start to end, and
    the frames in contact are filled on his own line."""

    def half(points, first):
        return {f: p for f, p in points.items() if (f <= 30) == first}

    after_1, after_2 = (RIGHT, LEFT) if swapped else (LEFT, RIGHT)
    rows = (
        _path(1, half(LEFT, True)) + _path(1, half(after_1, False)) +
        _path(2, half(RIGHT, True)) + _path(2, half(after_2, False)))
    pieces = split_at_contacts(rows, {})
    cut = len(rows) - len(pieces.rows)
    assert len(pieces.teams) == 4 and cut  # cut at the crossing
    out = _through(rows)
    assert len(out) == len(rows)
    assert len(_ids(out, LEFT)) == 1 and len(_ids(out, RIGHT)) == 1
    assert _ids(out, LEFT) != _ids(out, RIGHT)
    filled = [r for r in out if r[6] == FILLED]
    assert len(filled) == cut
    assert all((r[2] + 15, r[5]) in (LEFT[r[0]], RIGHT[r[0]]) for r in filled)


def test_players_of_two_teams_or_side_by_side_for_long_are_not_cut():
    crossing = _path(1, LEFT) + _path(2, RIGHT)
    assert split_at_contacts(crossing, {1: 0, 2: 1}).rows == sorted(crossing)
    beside = {f: (x + 8, y) for f, (x, y) in LEFT.items()}
    rows = sorted(_path(1, LEFT) + _path(2, beside))  # 60 frames in contact
    assert split_at_contacts(rows, {}, max_run=50).rows == rows
    assert split_at_contacts(rows, {}, max_run=60).rows == []


def test_a_player_who_turns_in_a_crossing_keeps_the_trackers_id():
    """One teammate turns back in the crossing while the other walks slowly
    on: the straight lines point to the swap, the online tracker's choice
    stands."""
    turns = {
        f: (100.0 + 3 * min(f, 28) - 3 * max(0, f - 28), 200.0)
        for f in FRAMES
    }
    walks = {f: (176.0 + (f - 28), 204.0) for f in FRAMES}
    rows = _path(1, turns) + _path(2, walks)
    pieces = split_at_contacts(rows, {})
    assert len(pieces.teams) == 4
    out = _through(rows)
    # before and after the crossing (in it, the filled line of the one
    # who turned lies nearer the other)
    seen = {r[0] for r in pieces.rows}
    turns, walks = ({
        f: p
        for f, p in path.items() if f in seen
    } for path in (turns, walks))
    assert len(_ids(out, turns)) == 1 and len(_ids(out, walks)) == 1
    assert _ids(out, turns) != _ids(out, walks)
    # without the tracker's choice as a prior, the lines swap them
    alone = join_tracklets(pieces.rows, pieces.teams)
    feet = {}
    for r in alone:
        feet.setdefault(r[1], set()).add(r[5])
    assert all(len(lines) == 2 for lines in feet.values())
