"""The ball as one object through a video: at most one ball a frame, chosen
by score and by the recent path, short gaps filled.

Per frame, ``BallTrack.update`` takes the detector's ball candidates and
keeps one: while the ball is tracked, the highest-scoring candidate within
``gate_px`` of where a constant velocity puts it or of where it was last
seen (a ball received or stopped leaves the line it flew on; the gate
widens by ``gate_growth_px`` for every frame without a ball, as a ball
hidden under a leg or flying fast comes out further away). A candidate
outside the gate that reaches ``takeover_score`` and outscores every
candidate in it starts a new path (the path lost its ball, or followed a
false one), and once the ball has been lost for more than ``max_gap``
frames, one that reaches ``acquire_score`` does (re-acquisition). A path
of fewer than ``confirm_after`` sightings is on trial: a candidate
outside its gate that reaches ``acquire_score`` and outscores every
candidate in the gate by ``trial_margin`` starts a new path, and the
frames the path on trial kept are dropped (it started on a false ball),
as they are when it goes more than ``trial_gap`` frames without a ball (a
false ball seen now and then). Otherwise a candidate outside the gate is
not the ball being followed: a second ball (a false one on a sock, a ball
by the touchline) does not make the path jump while the path still finds
its ball.

When the ball comes back after a gap of at most ``max_gap`` frames, having
moved no faster than ``fill_speed_px`` a frame or where the velocity it
went into the gap with puts it (it flew on: a pass seen again further
down its line), the frames in between get a
position interpolated linearly between the two observations, marked
``filled`` (a ball hidden behind a player, a missed detection); where the
detector still saw the ball weakly there (a candidate of at least
``snap_score`` within ``snap_px`` of the line: a ball half under a leg, at
a player's feet that turn with him), the filled frame takes that
candidate's box instead. Longer or faster gaps stay empty.
``BallTrack.path()`` returns the result once the video is done; filling is
retroactive, so the path of a frame is final ``max_gap`` frames later.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np


@dataclass
class BallPoint:
    """The ball in one frame: its box (xyxy), the detector's score (the
    neighbours' smaller score for a filled frame) and how it was found."""
    frame: int
    box: np.ndarray
    score: float
    filled: bool = False

    @property
    def centre(self) -> np.ndarray:
        return (self.box[:2] + self.box[2:]) / 2


@dataclass
class BallTrack:
    """One ball through a video (module docstring).

    Args:
        max_gap (int): the longest run of frames without a ball that is
            filled by interpolation; also how long the ball is followed by
            its path before any candidate may take its place. Defaults to 8.
        gate_px (float): how far (pixels, at the frame's size) from its
            predicted position a candidate may be to continue the path.
            Defaults to 20.
        gate_growth_px (float): the gate's widening per frame without a
            ball. Defaults to 6.
        min_score (float): candidates below are ignored; below the model's
            own ball threshold, the gate decides. Defaults to 0.4.
        below_threshold (float): once the model's ball threshold is known
            (:meth:`use_model_threshold`, as ``track_video`` does), the
            floor is this far below it where that is lower than
            ``min_score``: a model whose threshold was chosen at 0.35 has
            candidates from 0.25 (``floor``). Defaults to 0.1.
        acquire_score (float): the score a candidate needs to start a path
            (at the start, after a long gap). Defaults to 0.4 (0.5 left
            the ball unfollowed for frames after a long gap;
            docs/video_tracking_log.md).
        fill_speed_px (float): a gap is filled only when the ball moved at
            most this far a frame across it: a ball hidden at a player's
            feet moves with the player, while a ball that changed course
            unseen (a pass received, a bounce) is not on the straight line.
            Defaults to 3.
        fill_line_px (float): a faster gap is filled too when the ball
            comes out of it within this distance, plus
            ``fill_line_px_per_frame`` for each frame from the last
            sighting, of where the velocity it went in with puts it: a
            ball that flew on along its line, unseen for a few frames (a
            streak too faint to score), while a pass received or a bounce
            leaves the line. Negative: never. Defaults to 6.
        fill_line_px_per_frame (float): see ``fill_line_px``. Defaults
            to 1.
        takeover_score (float): the score a candidate outside the gate
            needs to take a confirmed path over: above ``acquire_score``,
            as a path whose ball may only be hidden for a few frames
            should not yield to a false ball. Defaults to 0.7.
        confirm_after (int): sightings that confirm a new path; before,
            a stronger candidate outside its gate (reaching
            ``acquire_score``) replaces it and its frames are dropped.
            Defaults to 5.
        trial_gap (int): a path on trial that goes more than this many
            frames without a ball is dropped with its frames. Defaults
            to 4.
        trial_margin (float): how far a candidate outside the gate of a
            path on trial must outscore every candidate in it to replace
            the path. Defaults to 0.1.
        snap_px (float): a filled frame takes the box of its strongest
            candidate within this distance of the interpolated centre
            (0: never). Defaults to 10.
        snap_score (float): the lowest score of such a candidate (below
            the floor: it is no ball on its own, only the position of one
            the path already has). Defaults to 0.2.
    """
    max_gap: int = 8
    gate_px: float = 20.0
    gate_growth_px: float = 6.0
    min_score: float = 0.4
    acquire_score: float = 0.4
    fill_speed_px: float = 3.0
    fill_line_px: float = 6.0
    fill_line_px_per_frame: float = 1.0
    takeover_score: float = 0.7
    below_threshold: float = 0.1
    confirm_after: int = 5
    trial_gap: int = 4
    trial_margin: float = 0.1
    snap_px: float = 10.0
    snap_score: float = 0.2
    _model_threshold: Optional[float] = field(
        default=None, init=False, repr=False)
    _points: Dict[int, BallPoint] = field(
        default_factory=dict, init=False, repr=False)
    # the newest two observations (not filled): the path's velocity
    _last: List[BallPoint] = field(
        default_factory=list, init=False, repr=False)
    # the frames of the path's first observations, until it is confirmed
    _run: List[int] = field(default_factory=list, init=False, repr=False)
    # the candidates from snap_score of the last max_gap + 1 frames
    _weak: Dict[int, tuple] = field(
        default_factory=dict, init=False, repr=False)

    def use_model_threshold(self, threshold: float) -> None:
        """Take the model's own ball threshold into the floor."""
        self._model_threshold = float(threshold)

    @property
    def floor(self) -> float:
        """The lowest score a candidate may have: ``min_score``, or
        ``below_threshold`` under the model's threshold where lower."""
        if self._model_threshold is None:
            return self.min_score
        return min(self.min_score,
                   self._model_threshold - self.below_threshold)

    @property
    def lowest_score(self) -> float:
        """The lowest score the track reads: ``floor``, or ``snap_score``
        where filled frames may take weaker candidates."""
        if self.snap_px > 0:
            return min(self.floor, self.snap_score)
        return self.floor

    def predicted(self, frame: int) -> Optional[np.ndarray]:
        """Where the path puts the ball's centre at ``frame``: the last
        observation moved at the velocity of the last two (still, with
        one); None when no path is being followed."""
        if not self._last or frame - self._last[-1].frame > self.max_gap + 1:
            return None
        last = self._last[-1]
        if len(self._last) < 2:
            return last.centre
        before = self._last[-2]
        velocity = (last.centre - before.centre) / (last.frame - before.frame)
        return last.centre + velocity * (frame - last.frame)

    def update(self, frame: int, boxes: np.ndarray,
               scores: np.ndarray) -> Optional[BallPoint]:
        """Take frame ``frame``'s ball candidates (``boxes`` (N, 4) xyxy,
        ``scores`` (N,)); return the ball kept for it, or None."""
        if (self._run and len(self._run) < self.confirm_after
                and frame - self._last[-1].frame - 1 > self.trial_gap):
            # a path on trial that lost its ball was a false one seen
            # now and then
            self._drop_path(frame)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if self.snap_px > 0:
            weak = scores >= self.snap_score
            # a gap reaches back max_gap frames: older ones are never
            # filled (by frame, not by count: a caller may skip frames)
            self._weak = {
                f: found
                for f, found in self._weak.items() if f >= frame - self.max_gap
            }
            self._weak[frame] = (boxes[weak], scores[weak])
        keep = scores >= self.floor
        boxes, scores = boxes[keep], scores[keep]
        if not len(scores):
            return None
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        expected = self.predicted(frame)
        if expected is not None:
            missed = frame - self._last[-1].frame - 1
            gate = self.gate_px + self.gate_growth_px * missed

            def near(point: np.ndarray) -> np.ndarray:
                return np.linalg.norm(centres - point, axis=1) <= gate

            # on its line, or where it was last seen (received, stopped)
            inside = near(expected) | near(self._last[-1].centre)
            best_inside = scores[inside].max() if inside.any() else 0.0
            on_trial = len(self._run) < self.confirm_after
            # a path on trial yields only by a margin: a ball of a like
            # score nearby is as likely a false one as the path's
            margin = self.trial_margin if on_trial else 0.0
            rival = ~inside & (scores >= self.acquire_score) & (
                scores > best_inside + margin)
            takeover = rival & (scores >= self.takeover_score)
            if on_trial and rival.any():
                # a path of a few frames yields to a stronger ball, and
                # what it kept was not the ball
                self._drop_path(frame)
                expected, inside = None, rival
            elif takeover.any():
                # the path lost its ball, or followed a false one
                expected, inside = None, takeover
        else:  # a new path: its velocity is not the old one's
            inside = scores >= self.acquire_score
        if not inside.any():
            return None
        if expected is None:
            self._last, self._run = [], []
        best = int(np.argmax(np.where(inside, scores, -1.0)))
        point = BallPoint(frame, boxes[best].copy(), float(scores[best]))
        self._fill_gap(point)
        self._points[frame] = point
        self._last = (self._last + [point])[-2:]
        if len(self._run) < self.confirm_after:
            self._run.append(frame)
        return point

    def _drop_path(self, frame: int) -> None:
        """Forget the path on trial: the frames it kept, from its first
        sighting to ``frame``, and its state."""
        for old in range(self._run[0], frame):
            self._points.pop(old, None)
        self._last, self._run = [], []

    def _fill_gap(self, point: BallPoint) -> None:
        """Interpolate the frames between the last observation and
        ``point`` when there are at most ``max_gap`` of them."""
        if not self._last:
            return
        last = self._last[-1]
        gap = point.frame - last.frame - 1
        if not 0 < gap <= self.max_gap:
            return
        step = np.linalg.norm(point.centre - last.centre) / (gap + 1)
        if step > self.fill_speed_px and not self._flew_on(point):
            return
        for k in range(1, gap + 1):
            t = k / (gap + 1)
            filled = BallPoint(
                last.frame + k, (1 - t) * last.box + t * point.box,
                min(last.score, point.score),
                filled=True)
            self._points[filled.frame] = self._snapped(filled)

    def _flew_on(self, point: BallPoint) -> bool:
        """Whether ``point`` lies where the velocity of the last two
        observations puts the ball (``fill_line_px``)."""
        if self.fill_line_px < 0 or len(self._last) < 2:
            return False
        frames = point.frame - self._last[-1].frame
        miss = np.linalg.norm(self.predicted(point.frame) - point.centre)
        return bool(miss <= self.fill_line_px +
                    self.fill_line_px_per_frame * frames)

    def _snapped(self, filled: BallPoint) -> BallPoint:
        """``filled``, or its frame's strongest candidate within
        ``snap_px`` of it (still marked filled, with its own score)."""
        # empty with snap_px 0: update keeps no weak candidates then
        boxes, scores = self._weak.get(filled.frame, ((), ()))
        if not len(scores):
            return filled
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        near = np.linalg.norm(centres - filled.centre, axis=1) <= self.snap_px
        if not near.any():
            return filled
        best = int(np.argmax(np.where(near, scores, -1.0)))
        return BallPoint(
            filled.frame, boxes[best].copy(), float(scores[best]), filled=True)

    def path(self) -> List[BallPoint]:
        """The ball of every frame that has one, in frame order."""
        return [self._points[f] for f in sorted(self._points)]


def ball_candidates(labels: Sequence[int], boxes: np.ndarray,
                    scores: np.ndarray, ball_label: int):
    """The detections of class ``ball_label``: ``(boxes, scores)``."""
    mask = np.asarray(labels) == ball_label
    return np.asarray(boxes).reshape(-1, 4)[mask], np.asarray(scores)[mask]
