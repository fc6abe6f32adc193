"""Player ids and the ball's path through a video.

``track_video`` runs a ``LocalDetector`` on every frame (sliced when the
detector slices) and follows:

* the players with ByteTrack (Roboflow's ``trackers``, the tracker
  supervision's ``ByteTrack`` became): every player detection down to
  ``low_score`` goes to it, as ByteTrack's second association wants the weak
  boxes of a player half hidden by another (not lower: under 0.2 a DETR's
  boxes are mostly copies of a player already found or on no player, and
  they carry tracks to teammates: docs/video_tracking_log.md); a new id
  starts only from a box at the model's own player threshold. Boxes are
  matched by DIoU (IoU less the centres' distance), which tells apart two
  players whose boxes overlap more than IoU does, from ``MATCH_DIOU``, and
  each team has a ByteTrack of its own
  (:class:`~field_detr.inference.teams.TeamSplit`: shirt colours clustered
  on the first ``TEAM_FIT_FRAMES`` frames), so players of two teams who
  cross keep their ids; once the video is seen, a track is cut where it
  overlaps a teammate's, a track that ends is joined to one of its team that
  starts where their motions lead within ``player_gap`` frames, a player who
  leaves the picture at a side is joined to one of his team who comes back
  in there within ``reentry_gap`` frames, and the frames a track misses are
  filled between its sightings (:mod:`~field_detr.inference.tracklets`;
  score -1);
* the ball as one object (:class:`~field_detr.inference.ball_track.BallTrack`:
  one ball a frame, gated by its recent path, short gaps filled).

``VideoTracks.write`` writes what other tools read: MOTChallenge text per
class (``<name>_players.txt``, ``<name>_ball.txt``: ``frame,id,x,y,w,h,
conf,class,-1``, frames from 1) and the ball's path as CSV
(``<name>_ball_path.csv``: frame, time, centre, size, score, filled);
``annotate_video`` draws the ids and the ball's recent trail.
"""
import csv
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..datasets.mot import BALL, PLAYER, write_mot
from ..datasets.video_files import read_frames, video_info, video_writer
from .ball_track import BallPoint, BallTrack, ball_candidates
from .detector import draw_label
from .teams import TeamSplit, shirt_colours
from .tracklets import (FILLED, PLAYER_GAP, REENTRY_GAP, fill_gaps,
                        join_reentries, join_tracklets, split_at_contacts)

#: frames whose confident players fit the team split (2 s at 25 fps)
TEAM_FIT_FRAMES = 50
#: the least DIoU at which ByteTrack matches a box to a track (the
#: library's 0.1 lets a track jump to a teammate in a crossing; a track
#: that ends instead is joined afterwards where its motion leads)
MATCH_DIOU = 0.6


@dataclass
class VideoTracks:
    """What ``track_video`` found: ``players`` rows ``(frame, id, x1, y1,
    x2, y2, score)`` (frames from 1), each id's team (``teams``: id -> 0,
    1, ...; all 0 without the team split), the ball's ``path``, and where
    the time went (``detect_s``: the detector; ``track_s``: ByteTrack and
    the ball's track)."""
    fps: float
    size: Tuple[int, int]
    frames: int = 0
    players: List[tuple] = field(default_factory=list)
    teams: Dict[int, int] = field(default_factory=dict)
    ball: List[BallPoint] = field(default_factory=list)
    detect_s: float = 0.0
    track_s: float = 0.0

    def write(self, out_dir: str, name: str) -> Dict[str, str]:
        """Write the MOTChallenge files and the ball's path; returns their
        paths by kind."""
        paths = dict(
            players=osp.join(out_dir, f'{name}_players.txt'),
            ball=osp.join(out_dir, f'{name}_ball.txt'),
            ball_path=osp.join(out_dir, f'{name}_ball_path.csv'))
        write_mot(paths['players'],
                  [(f, i, x1, y1, x2 - x1, y2 - y1, s, PLAYER, -1)
                   for f, i, x1, y1, x2, y2, s in self.players])
        write_mot(paths['ball'],
                  [(p.frame, 1, p.box[0], p.box[1], p.box[2] - p.box[0],
                    p.box[3] - p.box[1], p.score, BALL, -1)
                   for p in self.ball])
        with open(paths['ball_path'], 'w', newline='') as f:
            out = csv.writer(f)
            out.writerow(
                ['frame', 'time_s', 'x', 'y', 'w', 'h', 'score', 'filled'])
            for p in self.ball:
                cx, cy = p.centre
                out.writerow([
                    p.frame, f'{(p.frame - 1) / self.fps:.3f}', f'{cx:.1f}',
                    f'{cy:.1f}', f'{p.box[2] - p.box[0]:.1f}',
                    f'{p.box[3] - p.box[1]:.1f}', f'{p.score:.3f}',
                    int(p.filled)
                ])
        return paths


def track_video(detector,
                path: str,
                ball_track: Optional[BallTrack] = None,
                low_score: float = 0.2,
                batch_size: int = 4,
                on_batch: Optional[Callable[[int], None]] = None,
                player_class: str = 'player',
                ball_class: str = 'ball',
                teams: int = 2,
                player_gap: int = PLAYER_GAP,
                reentry_gap: int = REENTRY_GAP) -> VideoTracks:
    """Follow the players and the ball through the video at ``path`` with
    ``detector`` (a ``LocalDetector``; module docstring). ``teams``: how
    many shirt colours the players are split into (one ByteTrack each; 0 or
    1: one for all). ``low_score``: the weakest player box ByteTrack
    reads (those under the model's threshold go to its second association
    only). ``player_gap``: the most frames between two pieces of
    a player's track that are joined and filled (0: neither).
    ``reentry_gap``: the most frames a player who leaves the picture at
    its left or right side may stay out and keep his id (0: a new id; for
    a fixed camera).
    ``on_batch(n)`` is called after each batch of ``n`` frames (a progress
    bar)."""
    fps, _, size = video_info(path)
    classes = list(detector.classes)
    player = classes.index(player_class)
    ball = classes.index(ball_class) if ball_class in classes else None
    own = detector.class_thresholds
    ball_track = ball_track or BallTrack()
    tracks = VideoTracks(fps=fps, size=size)
    players = _Players(tracks, fps, float(own[player]), teams)
    # the weak boxes too: ByteTrack's second association and the ball's
    # gate decide what they are
    thresholds = np.minimum(own, low_score)
    if ball is not None:
        ball_track.use_model_threshold(own[ball])
        thresholds[ball] = min(own[ball], ball_track.lowest_score)
    for batch in read_frames(path, batch_size):
        start = time.perf_counter()
        found = detector.detect_batch(
            batch, batch_size=batch_size, thresholds=thresholds)
        tracks.detect_s += time.perf_counter() - start
        start = time.perf_counter()
        for image, det in zip(batch, found):
            tracks.frames += 1
            mask = det.labels == player
            # DETR and DINO have no NMS: a second query on a player would
            # start a second track
            players.update(
                tracks.frames, image,
                det.to_supervision()[mask].with_nms(
                    threshold=0.5) if mask.any() else _no_detections())
            if ball is not None:
                ball_track.update(
                    tracks.frames,
                    *ball_candidates(det.labels, det.boxes, det.scores, ball))
        tracks.track_s += time.perf_counter() - start
        if on_batch is not None:
            on_batch(len(batch))
    start = time.perf_counter()
    players.finish()
    if player_gap > 0:
        pieces = split_at_contacts(
            tracks.players, tracks.teams, max_run=player_gap)
        tracks.players = join_tracklets(
            pieces.rows, pieces.teams, player_gap, cut_from=pieces.cut_from)
        tracks.teams = pieces.teams
    if reentry_gap > 0:
        tracks.players = join_reentries(tracks.players, tracks.teams, size[0],
                                        reentry_gap)
    if player_gap > 0:
        tracks.players = fill_gaps(tracks.players, player_gap)
    if player_gap > 0 or reentry_gap > 0:
        kept = {row[1] for row in tracks.players}
        tracks.teams = {i: t for i, t in tracks.teams.items() if i in kept}
    tracks.track_s += time.perf_counter() - start
    tracks.ball = ball_track.path()
    return tracks


class _Players:
    """The players' ids: one ByteTrack per team once the team split is
    fitted (the first ``TEAM_FIT_FRAMES`` frames wait for it, then go
    through in order); ids numbered from 1 over all teams."""

    def __init__(self, tracks: VideoTracks, fps: float, threshold: float,
                 teams: int) -> None:
        self.tracks, self.fps, self.threshold = tracks, fps, threshold
        self.split = TeamSplit(teams) if teams > 1 else None
        self._trackers: Dict[int, object] = {}
        self._ids: Dict[Tuple[int, int], int] = {}
        self._waiting: List[tuple] = []

    def _tracker(self, team: int):
        if team not in self._trackers:
            from trackers import ByteTrackTracker, DIoU
            self._trackers[team] = ByteTrackTracker(
                frame_rate=self.fps,
                track_activation_threshold=self.threshold,
                high_conf_det_threshold=self.threshold,
                iou=DIoU(),
                minimum_iou_threshold=MATCH_DIOU)
        return self._trackers[team]

    def update(self, frame: int, image: np.ndarray, found) -> None:
        if self.split is None:
            return self._follow(frame, found, np.zeros(len(found), int))
        colours = shirt_colours(image, found.xyxy)
        if self.split.fitted:
            return self._follow(frame, found, self.split.predict(colours))
        self._waiting.append((frame, found, colours))
        if len(self._waiting) >= TEAM_FIT_FRAMES:
            self.finish()

    def finish(self) -> None:
        """Fit the team split on the frames waiting for it (a video shorter
        than ``TEAM_FIT_FRAMES``, or too few players: one team) and track
        them."""
        if not self._waiting:
            return
        confident = [
            colours[found.confidence >= self.threshold]
            for _, found, colours in self._waiting
        ]
        if self.split.fit(np.concatenate(confident)) is None:
            self.split = None
        waiting, self._waiting = self._waiting, []
        for frame, found, colours in waiting:
            self._follow(
                frame, found,
                self.split.predict(colours) if self.split else np.zeros(
                    len(found), int))

    def _follow(self, frame: int, found, teams: np.ndarray) -> None:
        for team in set(self._trackers) | set(teams.tolist()):
            mine = found[teams == team] if len(found) else found
            tracked = self._tracker(team).update(mine)
            for box, tid, score in zip(tracked.xyxy, tracked.tracker_id,
                                       tracked.confidence):
                if tid is None or tid < 0:
                    continue
                key = (team, int(tid))
                if key not in self._ids:
                    self._ids[key] = len(self._ids) + 1
                    self.tracks.teams[self._ids[key]] = team
                self.tracks.players.append(
                    (frame, self._ids[key], *map(float, box), float(score)))


def _no_detections():
    import supervision as sv
    return sv.Detections.empty()


#: colours (BGR) of the ids, cycled; the ball's path is orange
ID_COLOURS = [(120, 200, 0), (255, 160, 60), (200, 80, 255), (60, 220, 255),
              (255, 255, 90), (90, 90, 255), (180, 255, 180), (255, 120, 200)]
TRAIL = (0, 140, 255)


def annotate_video(path: str,
                   tracks: VideoTracks,
                   out_path: str,
                   trail: int = 25,
                   on_batch: Optional[Callable[[int], None]] = None) -> None:
    """Write ``path`` with the players' ids and the ball's last ``trail``
    frames drawn (a player's filled frame thin, the ball's hollow)."""
    by_frame: Dict[int, list] = {}
    for row in tracks.players:
        by_frame.setdefault(row[0], []).append(row)
    ball = {p.frame: p for p in tracks.ball}
    writer = video_writer(out_path, tracks.fps, tracks.size)
    frame_no = 0
    for batch in read_frames(path, 16):
        for img in batch:
            frame_no += 1
            for _, tid, x1, y1, x2, y2, score in by_frame.get(frame_no, []):
                colour = ID_COLOURS[tid % len(ID_COLOURS)]
                # a filled frame's box thin
                cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)),
                              colour, 1 if score == FILLED else 2)
                draw_label(img, f'#{tid}', int(x1), int(y1) - 1, colour)
            _draw_trail(img, ball, frame_no, trail)
            writer.write(img)
        if on_batch is not None:
            on_batch(len(batch))
    writer.release()


def _draw_trail(img: np.ndarray, ball: Dict[int, BallPoint], frame: int,
                trail: int) -> None:
    points = [ball[f] for f in range(frame - trail, frame + 1) if f in ball]
    for a, b in zip(points, points[1:]):
        if b.frame - a.frame == 1:
            cv2.line(img, tuple(int(v) for v in a.centre),
                     tuple(int(v) for v in b.centre), TRAIL, 2, cv2.LINE_AA)
    if points and points[-1].frame == frame:
        p = points[-1]
        r = max(4, int((p.box[2] - p.box[0]) / 2) + 3)
        cv2.circle(img, tuple(int(v) for v in p.centre), r, TRAIL,
                   1 if p.filled else 2, cv2.LINE_AA)
