"""Generated match clips with known tracks: the demo frames' pitch and
players in motion, for the tracking benchmark and tests.

Players walk and run between waypoints, cross each other and now and then
leave the frame and come back; the ball is dribbled at a player's feet,
passed (fast: streaked as a camera's exposure blurs it), rolls to a stop,
and is hidden behind the player holding it for 3-8 frames at a time. The
ground truth is MOTChallenge text, one file per class:
``gt/players.txt`` and ``gt/ball.txt``
(``frame,id,x,y,w,h,1,class,visibility``, frames from 1; a hidden ball
keeps its row with visibility 0), and ``gt/events.json`` (frames, fps,
size, the players' crossings, the ball's hidden frames). Everything is
drawn from ``seed``.
"""
import json
import os
import os.path as osp
import tempfile
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from .demo_data import (TEAM_COLOURS, _clip_box, _draw_ball, _draw_hard_ball,
                        _draw_pitch, _draw_player, _player_box,
                        write_coco_split)
from .mot import BALL, PLAYER, write_mot
from .video_files import frames as video_frames
from .video_files import video_writer

#: the files of a clip folder, as :func:`write_clip` writes them
CLIP_FILES = ('clip.mp4', 'gt/players.txt', 'gt/ball.txt', 'gt/events.json')


class _Player:
    """A player who walks or runs to a waypoint, then picks another; one in
    ten waypoints lies outside the frame (the player leaves and comes
    back)."""

    def __init__(self, rng: np.random.Generator, w: int, h: int,
                 team: int) -> None:
        self.rng, self.w, self.h, self.team = rng, w, h, team
        self.x = float(rng.uniform(0.1 * w, 0.9 * w))
        self.y = float(rng.uniform(0.35 * h, 0.95 * h))
        self._new_waypoint()

    def _new_waypoint(self) -> None:
        rng, w, h = self.rng, self.w, self.h
        if rng.random() < 0.1:  # off the side, then back
            self.tx = float(rng.choice((-0.15 * w, 1.15 * w)))
        else:
            self.tx = float(rng.uniform(0.05 * w, 0.95 * w))
        self.ty = float(rng.uniform(0.35 * h, 0.95 * h))
        self.speed = float(
            rng.choice((rng.uniform(0.8, 1.8), rng.uniform(2.5, 4.5))))

    @property
    def height(self) -> float:
        # further up the image = further from the camera = smaller
        return (0.12 + 0.14 * self.y / self.h) * self.h

    def step(self) -> None:
        dx, dy = self.tx - self.x, self.ty - self.y
        dist = float(np.hypot(dx, dy))
        if dist <= self.speed:
            self.x, self.y = self.tx, self.ty
            self._new_waypoint()
        else:
            self.x += self.speed * dx / dist
            self.y += self.speed * dy / dist

    def box(self) -> List[float]:
        """xyxy, not clipped."""
        x, y, bw, bh = _player_box(self.x, self.y, self.height)
        return [x, y, x + bw, y + bh]


class _Ball:
    """The ball: at a holder's feet (dribbled), passed to another player in
    a straight line, or rolling to a stop; hidden behind its holder for
    3-8 frames now and then."""

    def __init__(self, rng: np.random.Generator, players: List[_Player],
                 hard: bool) -> None:
        self.rng, self.players, self.hard = rng, players, hard
        self.holder: Optional[int] = int(rng.integers(len(players)))
        self.hidden = 0  # frames left behind the holder
        self.target: Optional[int] = None
        self.kicker: Optional[int] = None  # not the one to stop the ball
        self.flight = 0  # frames since the kick
        self.x, self.y = self._feet(self.holder)
        self.vx = self.vy = 0.0
        self.grey = int(rng.integers(170, 215))

    def _feet(self, j: int) -> Tuple[float, float]:
        p = self.players[j]
        return p.x + 0.25 * p.height * 0.38, p.y - 0.02 * p.height

    @property
    def radius(self) -> float:
        h = self.players[0].h
        scale = (2.5 + 3.5 * self.y / h)
        return 0.5 * scale if self.hard else scale

    def step(self) -> None:
        rng = self.rng
        if self.holder is not None:
            self.x, self.y = self._feet(self.holder)
            self.vx = self.vy = 0.0
            if self.hidden:
                self.hidden -= 1
            elif rng.random() < 0.03:
                self.hidden = int(rng.integers(3, 9))
            elif rng.random() < 0.04:  # a pass, or a kick into space
                self._kick()
            return
        self.x += self.vx
        self.y += self.vy
        w, h = self.players[0].w, self.players[0].h
        if not 10 <= self.x <= w - 10:  # off the touchline: back in play
            self.vx, self.target = -self.vx, None
            self.x = min(max(self.x, 10.0), w - 10.0)
        if not 0.25 * h <= self.y <= h - 10:
            self.vy, self.target = -self.vy, None
            self.y = min(max(self.y, 0.25 * h), h - 10.0)
        if self.target is None:  # rolling: slows down
            self.vx *= 0.93
            self.vy *= 0.93
        self.flight += 1
        near = [
            j for j, p in enumerate(self.players)
            if np.hypot(p.x - self.x, p.y - self.y) < 0.3 *
            p.height and (j != self.kicker or self.flight > 10)
        ]
        slow = np.hypot(self.vx, self.vy) < 0.5
        if near and (self.target in near or slow or self.target is None):
            self.holder, self.target = near[0], None
        elif slow and self.target is None:  # stopped: the nearest runs to it
            j = int(
                np.argmin([
                    np.hypot(p.x - self.x, p.y - self.y) for p in self.players
                ]))
            self.players[j].tx, self.players[j].ty = self.x, self.y

    def _kick(self) -> None:
        rng = self.rng
        others = [j for j in range(len(self.players)) if j != self.holder]
        if rng.random() < 0.7:  # a pass: fast, to a team mate or not
            self.target = int(rng.choice(others))
            p = self.players[self.target]
            speed = float(rng.uniform(7, 14))
            tx, ty = p.x, p.y - 0.02 * p.height
        else:  # into space: rolls to a stop
            self.target = None
            speed = float(rng.uniform(4, 8))
            angle = rng.uniform(0, 2 * np.pi)
            tx, ty = self.x + np.cos(angle), self.y + np.sin(angle)
        d = max(float(np.hypot(tx - self.x, ty - self.y)), 1e-6)
        self.vx, self.vy = speed * (tx - self.x) / d, speed * (ty - self.y) / d
        self.kicker, self.holder, self.flight = self.holder, None, 0

    def draw(self, img: np.ndarray) -> List[float]:
        """Draw the ball (streaked along its motion when it moves fast, grey
        when hard); return its xywh box."""
        moving = np.hypot(self.vx, self.vy) > 3
        if self.hard or moving:
            return _draw_hard_ball(img, self.x, self.y, self.radius,
                                   self.grey if self.hard else 245,
                                   (self.vx, self.vy) if moving else (0, 0))
        return _draw_ball(img, self.x, self.y, self.radius)


def _crossings(boxes: Dict[int, List[float]], overlapping: set) -> int:
    """Count new overlaps of two players' boxes this frame (IoU > 0.1),
    updating ``overlapping`` (the pairs overlapping now)."""
    ids = sorted(boxes)
    now = set()
    for a_i, a in enumerate(ids):
        for b in ids[a_i + 1:]:
            ax1, ay1, ax2, ay2 = boxes[a]
            bx1, by1, bx2, by2 = boxes[b]
            iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
            ih = max(0.0, min(ay2, by2) - max(ay1, by1))
            inter = iw * ih
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 -
                                                               by1) - inter
            if union > 0 and inter / union > 0.1:
                now.add((a, b))
    new = len(now - overlapping)
    overlapping.clear()
    overlapping.update(now)
    return new


def _draw_frames(entropy: list, num_frames: int, size: Tuple[int, int],
                 num_players: int, hard_ball: bool) -> Iterator[tuple]:
    """The frames of a clip drawn from ``entropy`` (a seed for numpy's
    generator), in order: ``(image, players, ball, hidden)`` — the players
    in the frame (``{id: xywh}``, clipped to it; at least 30 % of a box
    inside), the ball's box (clipped; zero size outside the frame) and
    whether it is hidden behind the player holding it."""
    w, h = size
    rng = np.random.default_rng(entropy)
    pitch = _draw_pitch(rng, w, h)
    teams = [
        TEAM_COLOURS[i]
        for i in rng.choice(len(TEAM_COLOURS), size=2, replace=False)
    ]
    players = [_Player(rng, w, h, i % 2) for i in range(num_players)]
    ball = _Ball(rng, players, hard_ball)
    for _ in range(num_frames):
        img = pitch.copy()
        boxes = {}
        holder = ball.holder if ball.hidden else None
        ball_drawn = False
        for j in sorted(range(num_players), key=lambda j: players[j].y):
            p = players[j]
            if not ball_drawn and (j == holder or
                                   (holder is None and ball.y < p.y)):
                ball_box = ball.draw(img)
                ball_drawn = True
            x0, y0, bw, bh = _draw_player(img, p.x, p.y, p.height,
                                          teams[p.team])
            clipped = _clip_box([x0, y0, bw, bh], w, h)
            if clipped[2] * clipped[3] >= 0.3 * bw * bh:  # in the frame
                boxes[j + 1] = clipped
        if not ball_drawn:
            ball_box = ball.draw(img)
        yield img, boxes, _clip_box(ball_box, w, h), holder is not None
        for p in players:
            p.step()
        ball.step()


def write_clip(out_dir: str,
               seed: int,
               num_frames: int = 500,
               size: Tuple[int, int] = (640, 384),
               fps: int = 25,
               num_players: int = 10,
               hard_ball: bool = False) -> dict:
    """Draw a clip into ``out_dir``: ``clip.mp4`` and its ground truth
    (module docstring). Returns ``gt/events.json``'s content."""
    w, h = size
    os.makedirs(osp.join(out_dir, 'gt'), exist_ok=True)
    video = video_writer(osp.join(out_dir, 'clip.mp4'), fps, (w, h))
    player_rows, ball_rows, hidden = [], [], []
    crossings, overlapping = 0, set()
    frames = _draw_frames([seed, 2026], num_frames, size, num_players,
                          hard_ball)
    for t, (img, boxes, ball_box, ball_hidden) in enumerate(frames, 1):
        for pid, box in boxes.items():
            player_rows.append((t, pid, *box, 1, PLAYER, 1.0))
        if ball_hidden:
            hidden.append(t)
        bx, by, bw, bh = ball_box
        if bw > 0 and bh > 0:
            ball_rows.append(
                (t, 1, bx, by, bw, bh, 1, BALL, 0.0 if ball_hidden else 1.0))
        crossings += _crossings(
            {
                pid: [x, y, x + bw, y + bh]
                for pid, (x, y, bw, bh) in boxes.items()
            }, overlapping)
        video.write(img)
    video.release()
    for name, rows in (('players', player_rows), ('ball', ball_rows)):
        write_mot(osp.join(out_dir, 'gt', f'{name}.txt'), rows)
    events = dict(
        seed=seed,
        frames=num_frames,
        fps=fps,
        size=[w, h],
        players=num_players,
        crossings=crossings,
        ball_hidden_frames=hidden,
        hard_ball=hard_ball)
    with open(osp.join(out_dir, 'gt', 'events.json'), 'w') as f:
        json.dump(events, f, indent=1)
    return events


def write_clip_split(split_dir: str,
                     num_images: int,
                     seed: int,
                     every: int = 10,
                     clip_frames: int = 500,
                     size: Tuple[int, int] = (640, 384),
                     hard_ball: bool = False) -> dict:
    """A split of clip frames: every ``every``-th frame of as many clips of
    ``clip_frames`` frames as ``num_images`` takes, in the layout of
    ``demo_data.write_split`` (the players; the ball where it is not hidden
    behind a player). The frames a tracker sees — players crossing and
    standing one behind the other, balls in flight — to train a model for
    video on. Clip ``k`` is drawn from ``[seed, 2026, 1, k]``, never one of
    ``write_clip``'s clips (``[seed, 2026]``); its frames go through the
    video codec ``write_clip`` uses, as a tracker reads them.
    Returns the COCO dict."""

    def frames():
        left, k = num_images, 0
        while left > 0:
            wanted = {}  # frame -> its objects
            with tempfile.TemporaryDirectory() as tmp:
                # through the video codec, as the tracker reads its frames
                path = osp.join(tmp, 'clip.mp4')
                video = video_writer(path, 25, size)
                clip = _draw_frames([seed, 2026, 1, k], clip_frames, size, 10,
                                    hard_ball)
                for t, (img, boxes, ball, hidden) in enumerate(clip, 1):
                    video.write(img)
                    if t % every == 0:
                        wanted[t] = [(1, box) for box in boxes.values()]
                        if not hidden and ball[2] > 0 and ball[3] > 0:
                            wanted[t].append((2, ball))
                        if len(wanted) == left:
                            break
                video.release()
                for t, img in enumerate(video_frames(path), 1):
                    if t in wanted:
                        yield img, wanted[t]
            left -= len(wanted)
            k += 1

    return write_coco_split(split_dir, frames())
