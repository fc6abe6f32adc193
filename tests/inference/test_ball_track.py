"""BallTrack: one ball a frame, gated by its recent path, short gaps filled
by interpolation and marked, a lost ball re-acquired."""
import numpy as np
import pytest

from field_detr.inference.ball_track import BallTrack


def box(cx, cy, r=3.0):
    return np.array([[cx - r, cy - r, cx + r, cy + r]])


def centres(track):
    return {
        p.frame: (tuple(np.round(p.centre, 3)), p.filled)
        for p in track.path()
    }


def test_a_gap_is_filled_along_the_line_and_marked():
    """Seen at frames 1-3 moving 3 px a frame (at a player's feet), missing
    4-7 (behind the player), seen again at 8: frames 4-7 interpolated,
    filled."""
    track = BallTrack(max_gap=8)
    for f in (1, 2, 3):
        assert track.update(f, box(100 + 3 * (f - 1), 50), [0.9])
    for f in (4, 5, 6, 7):
        assert track.update(f, np.zeros((0, 4)), []) is None
    assert track.update(8, box(121, 50), [0.8])
    got = centres(track)
    xs = [100, 103, 106, 109, 112, 115, 118, 121]
    assert [got[f] for f in range(1, 9)] == [((float(x), 50.0), 4 <= f <= 7)
                                             for f, x in zip(range(1, 9), xs)]
    filled = [p for p in track.path() if p.filled]
    assert all(p.score == pytest.approx(0.8) for p in filled)


@pytest.mark.parametrize('snap_px, at_4', [(10, (106.0, 56.0)),
                                           (0, (106.0, 50.0))])
def test_a_filled_frame_takes_a_weak_candidate_near_its_line(snap_px, at_4):
    """Seen at frames 1-2 and 6 moving 2 px a frame; under the floor (0.4)
    in between. Frame 4's candidate of 0.3 lies 6 px off the line (a ball
    at a player's turning feet): the filled frame takes its box and score.
    Frame 3's, 15 px off, and frame 5's, under ``snap_score``, leave the
    line. ``snap_px=0``: the line everywhere."""
    track = BallTrack(max_gap=8, snap_px=snap_px)
    track.update(1, box(100, 50), [0.9])
    track.update(2, box(102, 50), [0.9])
    assert track.update(3, box(104, 65), [0.3]) is None
    assert track.update(4, box(106, 56), [0.3]) is None
    assert track.update(5, box(108, 50), [0.15]) is None
    track.update(6, box(110, 50), [0.9])
    got = centres(track)
    assert [got[f] for f in (3, 4, 5)] == [((104.0, 50.0), True), (at_4, True),
                                           ((108.0, 50.0), True)]
    score = {p.frame: p.score for p in track.path()}[4]
    assert score == pytest.approx(0.3 if snap_px else 0.9)
    assert track.lowest_score == (0.2 if snap_px else 0.4)


def test_weak_candidates_are_kept_only_as_far_back_as_a_gap_reaches():
    """A caller that reads every second frame: the ball seen every fourth,
    weakly (0.3, 3 px off its line) in between. The weak candidates kept
    are those of the last ``max_gap`` frames however the frames are
    numbered, and a filled frame still takes its own."""
    track = BallTrack(max_gap=4)
    for frame in range(4, 200, 4):
        track.update(frame, box(frame, 50), [0.9])
        track.update(frame + 2, box(frame + 2, 53), [0.3])
    assert sorted(track._weak) == [194, 196, 198]
    got = centres(track)
    assert got[194] == ((194.0, 53.0), True)
    assert got[193] == ((193.0, 50.0), True)


@pytest.mark.parametrize('fill_line_px, at_5, filled', [
    (6.0, (140, 50), [3, 4]),
    (6.0, (134, 62), []),
    (-1.0, (140, 50), []),
])
def test_a_fast_gap_is_filled_only_where_the_ball_flew_on(
        fill_line_px, at_5, filled):
    """10 px a frame into the gap. Seen again where that velocity puts it
    (frame 5 at 140): it flew on along its line, and the line fills the
    gap. Seen 13 px off it (134, 62: 6 + 1 px a frame from the last
    sighting allows 9): a pass received or a bounce may have happened
    unseen, and no straight line is drawn through it; nor with
    ``fill_line_px`` negative (then only gaps of at most ``fill_speed_px``
    a frame are filled)."""
    track = BallTrack(
        max_gap=8, gate_px=40, fill_speed_px=4, fill_line_px=fill_line_px)
    track.update(1, box(100, 50), [0.9])
    track.update(2, box(110, 50), [0.9])
    assert track.update(5, box(*at_5), [0.9]) is not None
    got = centres(track)
    assert sorted(got) == sorted([1, 2, 5] + filled)
    assert [got[f] for f in filled] == [((120.0, 50.0), True),
                                        ((130.0, 50.0), True)][:len(filled)]


def test_a_longer_gap_stays_empty():
    track = BallTrack(max_gap=3)
    track.update(1, box(100, 50), [0.9])
    track.update(6, box(100, 50), [0.9])  # 4 frames missing > max_gap
    assert sorted(centres(track)) == [1, 6]


@pytest.mark.parametrize('confirm_after, on_path, kept_at, frames',
                         [(2, 0.5, (111.0, 50.0), [1, 2, 3]),
                          (3, 0.5, (300.0, 200.0), [3]),
                          (3, 0.6, (111.0, 50.0), [1, 2, 3])])
def test_a_stronger_ball_off_the_path_wins_only_over_a_path_on_trial(
        confirm_after, on_path, kept_at, frames):
    """One ball a frame, by the path and not by the score: a stronger
    second ball (0.65, under ``takeover_score``) far from a path confirmed
    by its sightings does not take it over. A path still on trial (fewer
    than ``confirm_after`` sightings: one started on a false ball) yields
    to it when it outscores the path's ball by ``trial_margin`` (0.1), and
    the frames the path kept are dropped; by less, the path keeps its
    ball."""
    track = BallTrack(confirm_after=confirm_after)
    track.update(1, box(100, 50), [0.9])
    track.update(2, box(105, 50), [0.9])
    kept = track.update(3, np.concatenate([box(300, 200),
                                           box(111, 50)]), [0.65, on_path])
    assert tuple(kept.centre) == kept_at
    assert sorted(centres(track)) == frames


def test_the_gate_follows_the_velocity_and_widens_while_missing():
    """A fast ball (20 px a frame) is found where its velocity puts it, not
    where it was; after frames without it the gate is wider."""
    for far, kept in ((240, True), (250, False)):
        track = BallTrack(gate_px=25, gate_growth_px=10, confirm_after=3)
        track.update(1, box(100, 50), [0.9])
        assert track.update(2, box(120, 50), [0.9]) is not None
        assert track.update(3, box(140, 50), [0.9]) is not None
        assert track.update(4, box(190, 50), [0.6]) is None  # 30 px off
        # two frames missed: the gate is 25 + 10 * 2 = 45 px around 200
        # (a candidate too weak to start a path of its own)
        assert (track.update(6, box(far, 50), [0.45]) is not None) == kept


def test_a_ball_that_stops_is_kept_where_it_stopped():
    """Kicked (15, 30, then 45 px a frame), then received: the ball is far
    off the line it flew on but where it was last seen, and stays on the
    path."""
    track = BallTrack(gate_px=20)
    for f, x in ((1, 100), (2, 115), (3, 145), (4, 190)):
        assert track.update(f, box(x, 50), [0.9]) is not None
    for f in (5, 6, 7):  # the line puts it at 235, 280, 325
        assert track.update(f, box(192, 50), [0.6]) is not None
    assert sorted(centres(track)) == list(range(1, 8))


def test_a_path_that_lost_its_ball_yields_to_a_strong_one_elsewhere():
    """A candidate outside the gate that reaches ``takeover_score`` and
    outscores everything in the gate starts a new path at once (a path on
    a false ball, a ball that changed course unseen); the confirmed
    path's frames stay. A weaker one, or one the gate outscores, does
    not."""
    track = BallTrack(takeover_score=0.7, confirm_after=2)
    track.update(1, box(100, 50), [0.9])
    track.update(2, box(105, 50), [0.9])
    assert track.update(3, box(300, 200), [0.65]) is None  # too weak
    kept = track.update(4, np.concatenate([box(301, 200),
                                           box(115, 50)]), [0.8, 0.85])
    assert tuple(kept.centre) == (115.0, 50.0)  # the gate's is stronger
    kept = track.update(5, np.concatenate([box(302, 200),
                                           box(120, 50)]), [0.8, 0.6])
    assert tuple(kept.centre) == (302.0, 200.0)
    assert track.predicted(6) == pytest.approx([302, 200])
    # frame 3 filled: at 4 the ball was where its velocity put it
    got = centres(track)
    assert sorted(got) == [1, 2, 3, 4, 5]
    assert got[3] == ((110.0, 50.0), True)


@pytest.mark.parametrize('missed, kept', [(4, True), (5, False)])
def test_a_path_on_trial_that_loses_its_ball_is_dropped(missed, kept):
    """A path of two sightings (on trial) that goes more than
    ``trial_gap`` frames without a ball was a false ball seen now and
    then: its frames go, and a weak candidate where it led (under
    ``acquire_score``) does not bring it back."""
    track = BallTrack(trial_gap=4, confirm_after=5, acquire_score=0.5)
    track.update(1, box(100, 50), [0.6])
    track.update(2, box(101, 50), [0.6])
    found = track.update(3 + missed, box(103, 50), [0.45])
    assert (found is not None) == kept
    assert sorted(centres(track)) == (
        list(range(1, 4 + missed)) if kept else [])


def test_a_lost_ball_is_reacquired_anywhere_with_a_strong_score():
    track = BallTrack(max_gap=2, acquire_score=0.5, confirm_after=1)
    track.update(1, box(100, 50), [0.9])
    # within max_gap + 1 frames the path rules: a far ball is not taken
    assert track.update(2, box(400, 300), [0.6]) is None
    # lost for longer: a strong candidate anywhere starts a new path, a
    # weak one does not, and the old velocity is forgotten
    assert track.update(6, box(400, 300), [0.4]) is None
    assert track.update(7, box(400, 300), [0.7]) is not None
    assert track.predicted(8) == pytest.approx([400, 300])
    assert sorted(centres(track)) == [1, 7]


def test_weak_candidates_are_ignored():
    track = BallTrack(min_score=0.3)
    assert track.update(1, box(100, 50), [0.2]) is None
    assert track.path() == []


def test_the_floor_follows_the_model_threshold():
    """A model whose ball threshold was chosen at 0.35 has candidates from
    0.25 (0.1 below); one at 0.5 keeps the floor at ``min_score``, 0.4."""
    track = BallTrack()
    assert track.floor == 0.4
    track.use_model_threshold(0.5)
    assert track.floor == 0.4
    track.use_model_threshold(0.35)
    assert track.floor == pytest.approx(0.25)
    assert track.update(1, box(100, 50), [0.9])
    assert track.update(2, box(103, 50), [0.3])  # near the path: kept
    assert track.update(3, box(106, 50), [0.2]) is None  # under the floor
