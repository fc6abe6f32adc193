"""The players' tracks after the online tracker, once the whole video is
seen (as SoccerNet tracking entries finish an online tracker's output):
a track is cut where its box overlaps a teammate's (the online tracker
may follow the wrong one out of the crossing), a track that ends is
joined to one of its team that starts soon after where the two tracks'
motions lead, a player who leaves the picture at its left or right side
is joined to one of his team who comes back in at that side within a
few of his heights of where he left, and the frames a track misses are
filled between its two sightings."""
from typing import Dict, List, NamedTuple, Optional

import numpy as np

#: the score of a filled row: the player was not detected in that frame
FILLED = -1.0
#: the defaults (``track_video``'s too): the most frames between two
#: pieces of a player's track that are joined and filled (2 s at 25 fps),
#: and that a player who leaves the picture at a side may stay out (8 s)
PLAYER_GAP = 50
REENTRY_GAP = 200


def _by_id(rows: List[tuple]) -> Dict[int, List[tuple]]:
    """Each track's rows, in frame order."""
    tracks: Dict[int, List[tuple]] = {}
    for row in sorted(rows):
        tracks.setdefault(row[1], []).append(row)
    return tracks


def _summary(rows: List[tuple]) -> dict:
    frames = np.array([r[0] for r in rows])
    centres = np.array([((r[2] + r[4]) / 2, (r[3] + r[5]) / 2) for r in rows])
    k = min(10, len(rows))

    def velocity(a: int, b: int) -> np.ndarray:
        """px a frame from row ``a`` to row ``b``; none from fewer than 3
        rows (a box's jitter, not a motion)"""
        if k < 3:
            return np.zeros(2)
        return (centres[b] - centres[a]) / max(1, frames[b] - frames[a])

    return dict(
        first=frames[0],
        last=frames[-1],
        start=centres[0],
        end=centres[-1],
        # the velocities of its first and last frames
        start_velocity=velocity(0, k - 1),
        end_velocity=velocity(-k, -1),
        start_height=rows[0][5] - rows[0][3],
        end_height=rows[-1][5] - rows[-1][3])


class Pieces(NamedTuple):
    """A video's tracks cut at their teammates' (:func:`split_at_contacts`):
    the pieces' ``rows`` (ids of their own), each piece's ``teams`` and the
    online track it was cut from (``cut_from``)."""
    rows: List[tuple]
    teams: Dict[int, int]
    cut_from: Dict[int, int]


def split_at_contacts(rows: List[tuple],
                      teams: Dict[int, int],
                      min_iou: float = 0.15,
                      max_run: int = PLAYER_GAP) -> Pieces:
    """``rows`` with each track cut where its box overlaps a box of its
    team by IoU > ``min_iou`` for at most ``max_run`` frames in a row:
    those rows are left out (:func:`fill_gaps` fills them once the pieces
    are joined) and the pieces before, between and after get ids of their
    own. Two teammates who cross look alike, and the online tracker may
    follow either out of the crossing: :func:`join_tracklets` then pairs
    the pieces by where their motions lead. Players side by side for
    longer stay as they were."""
    from supervision import box_iou_batch
    by_frame: Dict[int, List[tuple]] = {}
    for row in rows:
        by_frame.setdefault(row[0], []).append(row)
    touching = set()
    for frame, found in by_frame.items():
        boxes = np.array([r[2:6] for r in found], np.float64)
        team = np.array([teams.get(r[1], 0) for r in found])
        overlap = box_iou_batch(boxes, boxes)
        overlap[team[:, None] != team[None]] = 0
        np.fill_diagonal(overlap, 0)
        touching.update((frame, found[k][1])
                        for k in np.flatnonzero(overlap.max(1) > min_iou))
    pieces = Pieces([], {}, {})
    for tid, track in _by_id(rows).items():
        cut = set()
        for run in _runs([r[0] for r in track if (r[0], tid) in touching]):
            if len(run) <= max_run:
                cut.update(run)
        piece = None
        for row in track:
            if row[0] in cut:
                piece = None
                continue
            if piece is None:
                piece = len(pieces.teams) + 1
                pieces.teams[piece] = teams.get(tid, 0)
                pieces.cut_from[piece] = tid
            pieces.rows.append((row[0], piece, *row[2:]))
    pieces.rows.sort()
    return pieces


def _runs(frames: List[int]) -> List[List[int]]:
    """``frames`` (ascending) as runs of consecutive frames."""
    runs: List[List[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][-1] + 1:
            runs[-1].append(frame)
        else:
            runs.append([frame])
    return runs


def join_tracklets(rows: List[tuple],
                   teams: Dict[int, int],
                   max_gap: int = PLAYER_GAP,
                   gate_px: float = 20.0,
                   gate_px_per_frame: float = 2.0,
                   cut_from: Optional[Dict[int, int]] = None) -> List[tuple]:
    """``rows`` ``(frame, id, x1, y1, x2, y2, score)`` with the ids of
    joined tracks made one (the earlier track's).

    A track that ends is joined to a track of the same team that starts
    1 to ``max_gap`` frames later, with a height within 30 % of its last,
    where the two tracks' motions meet: the mean of the distances from
    where the first track's last velocity takes it to the second's start,
    and from where the second's first velocity, run back, puts it to the
    first's end, within ``gate_px`` (+ ``gate_px_per_frame`` a frame of
    the gap); each end and start is used once, the pairs chosen by the
    least distance (Hungarian). Two pieces cut from one online track
    (``cut_from``: piece -> track, :class:`Pieces`) count half that
    distance and are joined beyond the gate too: the online tracker's
    choice stands unless the motions clearly say otherwise (a player who
    turns in a crossing leaves his line)."""
    tracks = _by_id(rows)
    ids = sorted(tracks)
    info = {i: _summary(tracks[i]) for i in ids}
    cost = np.full((len(ids), len(ids)), np.inf)
    for a, i in enumerate(ids):
        for b, j in enumerate(ids):
            ending, starting = info[i], info[j]
            gap = starting['first'] - ending['last']
            if not (0 < gap <= max_gap
                    and _may_be_one(teams, i, j, ending['end_height'],
                                    starting['start_height'])):
                continue
            forward = ending['end'] + ending['end_velocity'] * gap
            back = starting['start'] - starting['start_velocity'] * gap
            miss = (np.linalg.norm(forward - starting['start']) +
                    np.linalg.norm(back - ending['end'])) / 2
            gate = gate_px + gate_px_per_frame * gap
            if cut_from and i in cut_from and cut_from[i] == cut_from.get(j):
                cost[a, b] = 0.5 * min(miss, gate) + 0.5 * gap
            elif miss <= gate:
                cost[a, b] = miss + 0.5 * gap
    return _join(rows, ids, ids, cost)


def _may_be_one(teams: Dict[int, int], ending: int, starting: int,
                end_height: float, start_height: float) -> bool:
    """Whether a track that ends and one that starts may be one player: of
    one team, the height within 30 % of the last."""
    return (teams.get(ending, 0) == teams.get(starting, 0)
            and abs(start_height - end_height) <= 0.3 * end_height)


def _join(rows: List[tuple], ends: List[int], starts: List[int],
          cost: np.ndarray) -> List[tuple]:
    """``rows`` with track ``starts[b]`` renamed to the id of ``ends[a]``
    for the pairs chosen by the least total ``cost[a, b]`` (Hungarian;
    ``inf``: never), chains followed to their first track."""
    from scipy.optimize import linear_sum_assignment
    finite = np.where(np.isfinite(cost), cost, 1e9)
    earlier = {}
    for a, b in zip(*linear_sum_assignment(finite)):
        if np.isfinite(cost[a, b]):
            earlier[starts[b]] = ends[a]

    def first_of(i: int) -> int:
        while i in earlier:
            i = earlier[i]
        return i

    return sorted((r[0], first_of(r[1]), *r[2:]) for r in rows)


def join_reentries(rows: List[tuple],
                   teams: Dict[int, int],
                   width: int,
                   max_gap: int = REENTRY_GAP,
                   edge_px: float = 15.0,
                   gate: float = 3.0) -> List[tuple]:
    """``rows`` with a player who leaves the picture and comes back made
    one track: a track whose last box touches the left or right side
    (within ``edge_px`` of a ``width``-pixel frame) is joined to a track of
    its team whose first box touches the same side 1 to ``max_gap`` frames
    later, with its feet within ``gate`` times the player's height of where
    he left and a height within 30 %; each end and start used once
    (Hungarian, the least distance). For a fixed camera: a panning one
    brings players back elsewhere."""

    def side(row: tuple) -> Optional[str]:
        if row[2] <= edge_px:
            return 'left'
        return 'right' if row[4] >= width - edge_px else None

    tracks = _by_id(rows)
    ends = [i for i in sorted(tracks) if side(tracks[i][-1])]
    starts = [j for j in sorted(tracks) if side(tracks[j][0])]
    cost = np.full((len(ends), len(starts)), np.inf)
    for a, i in enumerate(ends):
        out = tracks[i][-1]
        height = out[5] - out[3]
        for b, j in enumerate(starts):
            back = tracks[j][0]
            if not (0 < back[0] - out[0] <= max_gap and side(back) == side(out)
                    and _may_be_one(teams, i, j, height, back[5] - back[3])):
                continue
            feet = abs(back[5] - out[5]) / max(height, 1.0)
            if feet <= gate:
                cost[a, b] = feet
    return _join(rows, ends, starts, cost)


def fill_gaps(rows: List[tuple], max_gap: int = PLAYER_GAP) -> List[tuple]:
    """``rows`` with the frames a track misses, up to ``max_gap`` of them
    between two sightings, filled by its box interpolated linearly (score
    :data:`FILLED`)."""
    tracks = _by_id(rows)
    out = list(rows)
    for tid, track in tracks.items():
        for a, b in zip(track, track[1:]):
            gap = b[0] - a[0]
            if not 1 < gap <= max_gap:
                continue
            for frame in range(a[0] + 1, b[0]):
                t = (frame - a[0]) / gap
                box = [(1 - t) * p + t * q for p, q in zip(a[2:6], b[2:6])]
                out.append((frame, tid, *box, FILLED))
    return sorted(out)
