"""Synthetic football-pitch images with players and a ball, in COCO format.

The images are drawn, not photographed: striped grass, pitch markings, players
of two teams (shirt, shorts, legs, head) sized by distance from the camera,
and a small ball. They exercise the whole pipeline (data checks, training,
evaluation, export, inference) offline, and are easy enough that a short run
shows whether a model learns.

``hard_balls=True`` draws the ball as broadcast footage shows it far from
the camera: smaller, grey instead of white, streaked by its motion, and
in about a third of the frames at a player's feet, partly hidden by a leg
(where a nearer player hides the whole ball, the frame has no ball
annotated: nothing of it is in the picture).
"""
import json
import os
import os.path as osp
from typing import Iterable, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from ..datasets.validation import ANN_RELPATH, IMG_RELDIR

CATEGORIES = [dict(id=1, name='player'), dict(id=2, name='ball')]
TEAM_COLOURS = [(40, 40, 220), (220, 80, 30), (30, 220, 230), (245, 245, 245),
                (160, 40, 160), (30, 30, 30)]  # BGR


def _draw_pitch(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    base = np.array([60, 150, 50], dtype=np.float32) * rng.uniform(0.8, 1.1)
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = base
    stripe = int(rng.integers(40, 80))
    for x0 in range(0, w, 2 * stripe):
        img[:, x0:x0 + stripe] *= 1.12
    img += rng.normal(0, 6, size=img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    white = (235, 235, 235)
    m = int(min(w, h) * 0.06)
    cv2.rectangle(img, (m, m), (w - m, h - m), white, 2)
    cv2.line(img, (w // 2, m), (w // 2, h - m), white, 2)
    cv2.circle(img, (w // 2, h // 2), int(h * 0.15), white, 2)
    box_h, box_w = int(h * 0.45), int(w * 0.1)
    for x in (m, w - m - box_w):
        cv2.rectangle(img, (x, h // 2 - box_h // 2),
                      (x + box_w, h // 2 + box_h // 2), white, 2)
    return img


def _player_box(cx: float, foot_y: float, height: float) -> List[float]:
    """The xywh box of a player standing at (cx, foot_y)."""
    width = 0.38 * height
    return [
        float(cx - width / 2),
        float(foot_y - height),
        float(width),
        float(height)
    ]


def _draw_player(img: np.ndarray, cx: float, foot_y: float, height: float,
                 shirt: Tuple[int, int, int]) -> List[float]:
    """Draw a player standing at (cx, foot_y); return its xywh box."""
    x0, y0, ww, hh = _player_box(cx, foot_y, height)
    head_r = 0.09 * hh
    skin = (120, 160, 210)
    shorts = (30, 30, 30) if sum(shirt) > 300 else (240, 240, 240)
    # legs
    leg_top = y0 + 0.62 * hh
    for dx in (-0.18, 0.18):
        cv2.line(img, (int(cx + dx * ww), int(leg_top)),
                 (int(cx + dx * ww * 1.4), int(foot_y - 1)), skin,
                 max(1, int(0.08 * hh)))
    # shorts, shirt, arms, head
    cv2.rectangle(img, (int(x0 + 0.15 * ww), int(y0 + 0.5 * hh)),
                  (int(x0 + 0.85 * ww), int(leg_top + 0.06 * hh)), shorts, -1)
    cv2.rectangle(img, (int(x0 + 0.1 * ww), int(y0 + 0.2 * hh)),
                  (int(x0 + 0.9 * ww), int(y0 + 0.52 * hh)), shirt, -1)
    for side in (0, 1):
        ax = x0 if side == 0 else x0 + ww
        cv2.line(img, (int(x0 + 0.1 * ww if side == 0 else x0 + 0.9 * ww),
                       int(y0 + 0.24 * hh)), (int(ax), int(y0 + 0.48 * hh)),
                 shirt, max(1, int(0.07 * hh)))
    cv2.circle(img, (int(cx), int(y0 + head_r + 1)), max(1, int(head_r)), skin,
               -1)
    return [x0, y0, ww, hh]


def _draw_ball(img: np.ndarray, cx: float, cy: float, r: float) -> List[float]:
    cv2.circle(img, (int(round(cx)), int(round(cy))), int(round(r)),
               (250, 250, 250), -1)
    cv2.circle(img, (int(round(cx)), int(round(cy))), max(1, int(r / 2.5)),
               (20, 20, 20), -1)
    return [cx - r, cy - r, 2 * r, 2 * r]


def _draw_hard_ball(img: np.ndarray, cx: float, cy: float, r: float, grey: int,
                    streak: Tuple[float, float]) -> List[float]:
    """A grey ball of radius ``r`` swept along ``streak`` (dx, dy) around
    (cx, cy), as a camera's exposure blurs a moving ball; return the xywh
    box of the swept ball."""
    dx, dy = streak
    h, w = img.shape[:2]
    pad = int(np.ceil(r + max(abs(dx), abs(dy)) / 2)) + 2
    x0, y0 = int(cx) - pad, int(cy) - pad
    size, s = 2 * pad + 1, 4  # the patch, drawn 4x supersampled
    coverage = np.zeros((size * s, size * s), np.float32)
    steps = max(2, int(np.hypot(dx, dy)) + 1)
    for t in np.linspace(-0.5, 0.5, steps):
        disc = np.zeros_like(coverage)
        centre = (int((cx + t * dx - x0) * s), int((cy + t * dy - y0) * s))
        cv2.circle(disc, centre, int(r * s), 1.0, -1)
        coverage += disc / steps
    coverage = cv2.resize(
        coverage, (size, size), interpolation=cv2.INTER_AREA)[..., None]
    ys = slice(max(0, y0), min(h, y0 + size))
    xs = slice(max(0, x0), min(w, x0 + size))
    if ys.start < ys.stop and xs.start < xs.stop:  # not wholly outside
        cov = coverage[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        region = img[ys, xs].astype(np.float32)
        img[ys, xs] = np.clip(region * (1 - cov) + grey * cov, 0,
                              255).astype(np.uint8)
    return [
        cx - r - abs(dx) / 2, cy - r - abs(dy) / 2, 2 * r + abs(dx),
        2 * r + abs(dy)
    ]


def draw_scene(rng: np.random.Generator,
               size: Tuple[int, int] = (640, 384),
               empty: bool = False,
               scene: Optional[dict] = None) -> Tuple[np.ndarray, List[Tuple]]:
    """One image and its objects ``[(category_id, [x, y, w, h]), ...]``.

    ``scene`` (players and ball positions) may be given to draw a frame of a
    video; otherwise one is sampled.
    """
    img = _draw_pitch(rng, *size)
    if empty:
        return img, []
    return img, _draw_objects(img, scene or sample_scene(rng, size))


def _draw_objects(img: np.ndarray, scene: dict) -> List[Tuple]:
    """Draw the scene's players (the nearest last) and ball onto ``img``;
    return their ``(category_id, [x, y, w, h])`` clipped to the image, the
    ball's only where some pixel of it shows."""
    h, w = img.shape[:2]
    objects = []
    ball, style = scene.get('ball'), scene.get('ball_style')
    under = None if style is None else style['under']
    hideable = ball is not None and under is not None
    if hideable:
        behind = img.copy()  # what the players alone will make of it

    def draw_ball():
        box = _draw_ball(img, *ball) if style is None else _draw_hard_ball(
            img, *ball, style['grey'], style['streak'])
        objects.append((2, _clip_box(box, w, h)))

    # a hard ball at a player's feet is drawn before that player (and the
    # nearer ones), whose leg then hides part of it
    order = sorted(
        range(len(scene['players'])), key=lambda j: scene['players'][j][1])
    for j in order:
        if ball is not None and j == under:
            draw_ball()
        cx, foot_y, height, team = scene['players'][j]
        box = _draw_player(img, cx, foot_y, height, scene['teams'][team])
        objects.append((1, _clip_box(box, w, h)))
    if ball is not None and under is None:
        draw_ball()
    if hideable:
        # a nearer player may hide the whole ball: not a ball to annotate
        _draw_objects(behind, dict(scene, ball=None))
        if np.array_equal(behind, img):
            objects = [o for o in objects if o[0] != 2]
    return objects


def sample_scene(rng: np.random.Generator,
                 size: Tuple[int, int],
                 hard_rng: Optional[np.random.Generator] = None) -> dict:
    """Random players (x, foot y, height, team) and ball (x, y, radius);
    with ``hard_rng``, a hard ball drawn from it (smaller, with its
    ``ball_style``: grey level, motion streak, the player whose leg hides
    part of it or None), ``rng``'s draws and so the players unchanged."""
    w, h = size
    teams = rng.choice(len(TEAM_COLOURS), size=2, replace=False)
    players = []
    for _ in range(int(rng.integers(4, 11))):
        foot_y = float(rng.uniform(0.3 * h, 0.97 * h))
        # further up the image = further from the camera = smaller.
        height = (0.12 + 0.14 * foot_y / h) * h
        cx = float(rng.uniform(0.05 * w, 0.95 * w))
        players.append((cx, foot_y, height, int(rng.integers(0, 2))))
    ball = None
    if rng.random() < 0.9:
        by = float(rng.uniform(0.25 * h, 0.95 * h))
        ball = (float(rng.uniform(0.05 * w,
                                  0.95 * w)), by, float(2.5 + 3.5 * by / h))
    scene = dict(
        teams=[TEAM_COLOURS[i] for i in teams], players=players, ball=ball)
    if hard_rng is not None and ball is not None:
        scene['ball'], scene['ball_style'] = _hard_ball(
            hard_rng, ball, players, h)
    return scene


def _hard_ball(rng: np.random.Generator, ball: Tuple[float, float, float],
               players: List[Tuple], h: int) -> Tuple[Tuple, dict]:
    """The ball of a hard-ball scene: 1.5-3.5 px in radius (by its distance
    from the camera), grey, streaked 0-10 px in a random direction, and in
    a third of the scenes at a player's feet (the ball on the ground just
    before the foot, so the leg drawn over it hides part of it)."""
    bx, by, _ = ball
    angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0, 10)
    style = dict(
        grey=int(rng.integers(150, 215)),
        streak=(float(length * np.cos(angle)), float(length * np.sin(angle))),
        under=None)
    if rng.random() < 1 / 3:
        j = int(rng.integers(len(players)))
        cx, foot_y, height, _ = players[j]
        side = rng.choice((-1.0, 1.0))
        by = foot_y - 0.03 * height
        # a leg's outer edge at the foot is 0.136 heights from the player's
        # centre (_draw_player): the ball's centre a third of its radius
        # beyond it, so the leg hides a third to a half of the ball
        r = 1.5 + 2.0 * by / h
        bx = cx + side * (0.136 * height + r / 3)
        style['under'] = j
        return (float(bx), float(by), float(r)), style
    return (float(bx), float(by), float(1.5 + 2.0 * by / h)), style


def _clip_box(box: List[float], w: int, h: int) -> List[float]:
    x, y, bw, bh = box
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(float(w), x + bw), min(float(h), y + bh)
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]


def write_split(split_dir: str,
                num_images: int,
                seed: int,
                size: Tuple[int, int] = (640, 384),
                empty_every: int = 10,
                hard_balls: bool = False) -> dict:
    """Draw ``num_images`` images into ``split_dir`` and write its COCO JSON.

    Every ``empty_every``-th image shows an empty pitch (no annotation);
    ``hard_balls`` draws hard balls (see the module). Returns the COCO dict.
    """
    layouts = split_layouts(num_images, seed, size, empty_every, hard_balls)
    return write_coco_split(
        split_dir, ((img, [] if scene is None else _draw_objects(img, scene))
                    for img, scene in layouts))


def write_coco_split(split_dir: str,
                     frames: Iterable[Tuple[np.ndarray, List[Tuple]]]) -> dict:
    """Write ``frames`` (a BGR image and its ``(category_id, xywh box)``
    objects each) into ``split_dir`` as JPEG images and their COCO JSON, in
    the split layout; returns the COCO dict."""
    os.makedirs(osp.join(split_dir, IMG_RELDIR), exist_ok=True)
    os.makedirs(osp.dirname(osp.join(split_dir, ANN_RELPATH)), exist_ok=True)
    images, annotations = [], []
    for i, (img, objects) in enumerate(frames):
        file_name = f'{i:06d}.jpg'
        cv2.imwrite(
            osp.join(split_dir, IMG_RELDIR, file_name), img,
            [cv2.IMWRITE_JPEG_QUALITY, 92])
        images.append(
            dict(
                id=i + 1,
                file_name=file_name,
                width=img.shape[1],
                height=img.shape[0]))
        for cat_id, box in objects:
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=i + 1,
                    category_id=cat_id,
                    bbox=box,
                    area=round(box[2] * box[3], 2),
                    iscrowd=0))
    coco = dict(
        images=images,
        annotations=annotations,
        categories=[dict(c) for c in CATEGORIES])
    with open(osp.join(split_dir, ANN_RELPATH), 'w') as f:
        json.dump(coco, f)
    return coco


def split_layouts(
        num_images: int,
        seed: int,
        size: Tuple[int, int] = (640, 384),
        empty_every: int = 10,
        hard_balls: bool = False
) -> Iterator[Tuple[np.ndarray, Optional[dict]]]:
    """The empty pitch and the scene (``None`` for an empty image) of each
    image ``write_split`` draws with the same arguments, in order: the
    scenes of a split, to draw video frames of them (``draw_clip``)."""
    rng = np.random.default_rng(seed)
    # the hard balls from a generator of their own: the same pitches and
    # players as without them
    hard_rng = np.random.default_rng([seed, 1]) if hard_balls else None
    for i in range(num_images):
        pitch = _draw_pitch(rng, *size)
        empty = empty_every > 0 and i % empty_every == empty_every - 1
        yield pitch, None if empty else sample_scene(rng, size, hard_rng)


def _to_and_fro(distance: float, span: float) -> float:
    """Where a walker is, from its start, after walking ``distance`` and
    turning back at ``span`` on either side: 0 .. span .. 0 .. -span .. 0."""
    d = distance % (4 * span)
    if d <= span:
        return d
    if d <= 3 * span:
        return 2 * span - d
    return d - 4 * span


def draw_clip(pitch: np.ndarray,
              scene: dict,
              num_frames: int = 12,
              step_px: float = 3.0,
              span_px: float = 6.0,
              seed: int = 0) -> List[Tuple[np.ndarray, np.ndarray]]:
    """A short video of ``scene`` on ``pitch``: each player walks ``step_px``
    pixels per frame in a random direction of its own and turns back
    ``span_px`` from where it started (players shuffling on the spot); the
    ball stays. Returns ``[(frame, boxes)]``, ``boxes`` the players' xyxy
    boxes (clipped to the frame) in ``scene['players']`` order, so row ``j``
    is the same player in every frame."""
    h, w = pitch.shape[:2]
    angles = np.random.default_rng(seed).uniform(0, 2 * np.pi,
                                                 len(scene['players']))
    frames = []
    for t in range(num_frames):
        offset = _to_and_fro(t * step_px, span_px)
        players = []
        for (cx, foot_y, height, team), angle in zip(scene['players'], angles):
            players.append((cx + offset * np.cos(angle),
                            foot_y + offset * np.sin(angle), height, team))
        frame = pitch.copy()
        _draw_objects(frame, dict(scene, players=players))
        boxes = np.array([
            _clip_box(_player_box(cx, foot_y, height), w, h)
            for cx, foot_y, height, _ in players
        ]).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        frames.append((frame, boxes))
    return frames


def make_demo_dataset(out_dir: str,
                      splits=(('train', 48, 0), ('val', 16, 1)),
                      size: Tuple[int, int] = (640, 384),
                      hard_balls: bool = False) -> List[str]:
    """Write each ``(name, num_images, seed)`` split under ``out_dir``;
    return the split folders."""
    dirs = []
    for name, num_images, seed in splits:
        dirs.append(osp.join(out_dir, name))
        write_split(dirs[-1], num_images, seed, size, hard_balls=hard_balls)
    return dirs
