"""The team split the tracker uses: players drawn in two teams' shirts on a
generated pitch are split into those teams by their shirts' colour."""
import numpy as np

from field_detr.datasets.demo_data import (TEAM_COLOURS, _draw_pitch,
                                           _draw_player)
from field_detr.inference.teams import TeamSplit, shirt_colours


def _players(rng, shirts):
    """A pitch with a player in each of ``shirts``, side by side, their
    boxes as xyxy."""
    image = _draw_pitch(rng, 640, 384)
    boxes = []
    for k, shirt in enumerate(shirts):
        x0, y0, w, h = _draw_player(image, 40 + 38 * k, 200 + 12 * (k % 3), 90,
                                    shirt)
        boxes.append([x0, y0, x0 + w, y0 + h])
    return image, np.array(boxes, np.float32)


def test_two_teams_are_told_apart_by_their_shirts():
    rng = np.random.default_rng(0)
    for a, b in ((0, 1), (3, 5), (2, 4)):  # red/blue, white/black, ...
        teams = rng.integers(0, 2, size=14)
        teams[:2] = (0, 1)
        image, boxes = _players(rng, [TEAM_COLOURS[(a, b)[t]] for t in teams])
        split = TeamSplit(2).fit(shirt_colours(image, boxes))
        found = split.predict(shirt_colours(image, boxes))
        # the same grouping, whichever number each team gets
        assert (found == teams).all() or (found == 1 - teams).all(), \
            (a, b, teams, found)


def test_nothing_to_split_without_two_colours():
    image = np.full((50, 50, 3), 90, np.uint8)
    boxes = np.array([[0, 0, 20, 40], [25, 0, 45, 40]], np.float32)
    assert TeamSplit(2).fit(shirt_colours(image, boxes)) is None
    assert shirt_colours(image, np.zeros((0, 4))).shape == (0, 3)


def test_a_player_half_behind_another_keeps_his_team():
    """A player of one team stands behind one of the other (drawn after
    him, nearer the camera, covering most of his shirt band): his colour
    is read from what is left of his shirt, not the other's."""
    rng = np.random.default_rng(1)
    red, blue = TEAM_COLOURS[0], TEAM_COLOURS[1]
    image, boxes = _players(rng, [red, blue, red, blue])
    split = TeamSplit(2).fit(shirt_colours(image, boxes))
    teams = split.predict(shirt_colours(image, boxes))
    # a red player at (400, 200), a blue one in front of him, lower and
    # 16 px to the side: 40 % of his shirt band left in sight
    back = _draw_player(image, 400, 200, 90, red)
    front = _draw_player(image, 416, 206, 90, blue)
    pair = np.array([[x, y, x + w, y + h] for x, y, w, h in (back, front)],
                    np.float32)
    found = split.predict(shirt_colours(image, pair))
    assert list(found) == [teams[0], teams[1]], (found, teams)
    # read from the whole band, the red player's colour is the blue one's
    from field_detr.inference import teams as module
    whole = module.MIN_VISIBLE
    try:
        module.MIN_VISIBLE = 2.0  # never enough visible: the whole band
        assert split.predict(shirt_colours(image, pair))[0] == teams[1]
    finally:
        module.MIN_VISIBLE = whole
