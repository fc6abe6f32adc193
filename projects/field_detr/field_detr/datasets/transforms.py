"""Training transforms for the ball: copies of it pasted elsewhere, and
synthetic balls drawn onto the frame."""
from typing import List, Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


class _BallsOnFrame(BaseTransform):
    """What both ball transforms share: a frame with annotations gets balls
    in a share ``prob`` of calls; the subclass draws them onto
    ``results['img']`` in place (:meth:`_balls`), and each comes back a new
    ball box (``ball_label``), not ignored."""

    prob: float
    ball_label: int

    def transform(self, results: dict) -> dict:
        labels = results.get('gt_bboxes_labels')
        if labels is None or np.random.rand() >= self.prob:
            return results
        new = self._balls(results, labels)
        if not new:
            return results
        results['gt_bboxes'] = results['gt_bboxes'].cat([
            results['gt_bboxes'],
            type(results['gt_bboxes'])(np.array(new, np.float32))
        ])
        results['gt_bboxes_labels'] = np.concatenate(
            [labels, np.full(len(new), self.ball_label, labels.dtype)])
        if results.get('gt_ignore_flags') is not None:
            results['gt_ignore_flags'] = np.concatenate(
                [results['gt_ignore_flags'],
                 np.zeros(len(new), bool)])
        return results

    def _balls(self, results: dict, labels: np.ndarray) -> List[List[float]]:
        """Draw the balls onto ``results['img']``; their xyxy boxes."""
        raise NotImplementedError


@TRANSFORMS.register_module()
class BallCopyPaste(_BallsOnFrame):
    """Copies of the image's ball pasted elsewhere in it, each a new ball
    box: the copy-paste augmentation for small objects (Kisantal et al.,
    "Augmentation for small object detection", 2019). The ball is cut out
    as the disc inscribed in its box, rescaled, and pasted where it
    overlaps no other ball (and, unless ``over_players``, no box at all);
    an image without a ball passes unchanged.

    A few whole frames hold a few balls; copies put more of them at other
    places, sizes and backgrounds, so the ball head learns what a ball
    looks like rather than where the balls of the training frames were.

    Args:
        copies (tuple): the number of copies, drawn uniformly from
            ``[min, max]``. Defaults to (1, 3).
        scale (tuple): the size of a copy relative to the ball, drawn
            uniformly from ``[min, max]``. Defaults to (0.6, 1.4).
        prob (float): the share of images that get copies. Defaults to 0.5.
        ball_label (int): the ball's class index. Defaults to 1.
        max_tries (int): placements tried per copy before it is given up.
            Defaults to 20.
        over_players (bool): copies may lie over boxes of other classes,
            as a ball in front of a player does (the box stays). Defaults to
            False.
    """

    def __init__(self,
                 copies: Tuple[int, int] = (1, 3),
                 scale: Tuple[float, float] = (0.6, 1.4),
                 prob: float = 0.5,
                 ball_label: int = 1,
                 max_tries: int = 20,
                 over_players: bool = False) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'BallCopyPaste: prob must be in [0, 1], '
                             f'not {prob}')
        if not 0 <= copies[0] <= copies[1] or not 0 < scale[0] <= scale[1]:
            raise ValueError('BallCopyPaste: copies and scale are '
                             '(min, max) ranges')
        self.copies = tuple(copies)
        self.scale = tuple(scale)
        self.prob = prob
        self.ball_label = ball_label
        self.max_tries = max_tries
        self.over_players = over_players

    def _balls(self, results: dict, labels: np.ndarray) -> List[List[int]]:
        balls = np.flatnonzero(labels == self.ball_label)
        if not len(balls):
            return []
        img = results['img']
        h, w = img.shape[:2]
        boxes = results['gt_bboxes'].numpy()
        x1, y1, x2, y2 = np.round(boxes[np.random.choice(balls)]).astype(int)
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return []
        patch = img[y1:y2, x1:x2]
        new = []
        for _ in range(np.random.randint(self.copies[0], self.copies[1] + 1)):
            s = np.random.uniform(*self.scale)
            pw = max(2, int(round((x2 - x1) * s)))
            ph = max(2, int(round((y2 - y1) * s)))
            if pw >= w or ph >= h:
                continue
            placed = self._place(boxes[balls] if self.over_players else boxes,
                                 new, pw, ph, w, h)
            if placed is None:
                continue
            px, py = placed
            copy = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_LINEAR)
            # the disc inscribed in the copy's box
            ys, xs = np.ogrid[:ph, :pw]
            mask = ((2 * xs + 1 - pw) / pw)**2 + (
                (2 * ys + 1 - ph) / ph)**2 <= 1
            img[py:py + ph, px:px + pw][mask] = copy[mask]
            new.append([px, py, px + pw, py + ph])
        return new

    def _place(self, boxes: np.ndarray, new: list, pw: int, ph: int, w: int,
               h: int) -> Optional[Tuple[int, int]]:
        """A top-left corner where a ``pw`` x ``ph`` copy overlaps none of
        ``boxes`` and ``new``, or None."""
        taken = np.concatenate(
            [boxes.reshape(-1, 4),
             np.array(new, np.float32).reshape(-1, 4)])
        for _ in range(self.max_tries):
            px = np.random.randint(0, w - pw + 1)
            py = np.random.randint(0, h - ph + 1)
            if not ((taken[:, 0] < px + pw) & (taken[:, 2] > px) &
                    (taken[:, 1] < py + ph) & (taken[:, 3] > py)).any():
                return px, py
        return None

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(copies={self.copies}, '
                f'scale={self.scale}, prob={self.prob}, '
                f'ball_label={self.ball_label}, '
                f'over_players={self.over_players})')


@TRANSFORMS.register_module()
class SyntheticBalls(_BallsOnFrame):
    """Balls drawn onto the frame, each a new ball box: a round blob of
    light of a random grey (a Gaussian profile of ``sigma`` px), smeared
    along a random direction as a camera's exposure smears a moving ball
    (the longer the smear, the fainter), laid over whatever is there: grass,
    lines, shirts, and in a share ``feet`` at a player's feet (a corner of
    the bottom of a player's box).

    Copies of the frame's own ball (:class:`BallCopyPaste`) teach the
    balls the training frames hold; a frame rarely holds a faint ball over
    a shirt or beside a foot, and these add them at every grey, size and
    smear in the ranges, so the head learns a small blob of light rather
    than the few balls it was shown. For small, faint balls (far from the
    camera, in motion); on footage whose balls are large and sharp the
    frame's own copies are enough.

    Args:
        count (tuple): balls per frame, drawn uniformly from ``[min, max]``.
            Defaults to (2, 6).
        sigma (tuple): the blob's Gaussian sigma in px, uniform in
            ``[min, max]``; its box is 4 sigma across (plus the smear).
            Defaults to (0.7, 2.0).
        grey (tuple): the ball's grey level, uniform in ``[min, max]``.
            Defaults to (120, 255).
        streak (tuple): the smear's length in px, uniform in
            ``[min, max]``. Defaults to (0, 12).
        feet (float): the share of balls put at a player's feet. Defaults
            to 0.33.
        prob (float): the share of frames that get balls. Defaults to 1.
        ball_label (int): the ball's class index. Defaults to 1.
    """

    def __init__(self,
                 count: Tuple[int, int] = (2, 6),
                 sigma: Tuple[float, float] = (0.7, 2.0),
                 grey: Tuple[float, float] = (120, 255),
                 streak: Tuple[float, float] = (0.0, 12.0),
                 feet: float = 0.33,
                 prob: float = 1.0,
                 ball_label: int = 1) -> None:
        for name, (lo, hi) in dict(
                count=count, sigma=sigma, grey=grey, streak=streak).items():
            if not 0 <= lo <= hi:
                raise ValueError(f'SyntheticBalls: {name} is a (min, max) '
                                 f'range, not {(lo, hi)}')
        if sigma[0] <= 0:
            raise ValueError('SyntheticBalls: sigma must be positive')
        for name, value in dict(feet=feet, prob=prob).items():
            if not 0 <= value <= 1:
                raise ValueError(f'SyntheticBalls: {name} must be in '
                                 f'[0, 1], not {value}')
        self.count = tuple(count)
        self.sigma = tuple(sigma)
        self.grey = tuple(grey)
        self.streak = tuple(streak)
        self.feet = feet
        self.prob = prob
        self.ball_label = ball_label

    def _balls(self, results: dict, labels: np.ndarray) -> List[List[float]]:
        img = results['img']
        players = results['gt_bboxes'].numpy()[labels != self.ball_label]
        new = []
        for _ in range(np.random.randint(self.count[0], self.count[1] + 1)):
            box = self._draw(img, players)
            if box is not None:
                new.append(box)
        return new

    def _draw(self, img: np.ndarray,
              players: np.ndarray) -> Optional[List[float]]:
        """Draw one ball onto ``img``; its xyxy box, or None where it fell
        outside the frame."""
        h, w = img.shape[:2]
        sigma = np.random.uniform(*self.sigma)
        length = np.random.uniform(*self.streak)
        angle = np.random.uniform(0, np.pi)
        dx, dy = length * np.cos(angle), length * np.sin(angle)
        if len(players) and np.random.rand() < self.feet:
            x1, y1, x2, y2 = players[np.random.randint(len(players))]
            cx = np.random.choice((x1, x2)) + np.random.uniform(-2, 2)
            cy = y2 - np.random.uniform(0, 0.06) * (y2 - y1)
        else:
            cx = np.random.uniform(0.02 * w, 0.98 * w)
            cy = np.random.uniform(0.1 * h, 0.98 * h)
        r = 2.0 * sigma  # the blob's visible radius
        pad = int(np.ceil(r + max(abs(dx), abs(dy)) / 2 + 2 * sigma)) + 1
        x0, y0 = int(cx) - pad, int(cy) - pad
        ys, xs = np.mgrid[y0:y0 + 2 * pad + 1, x0:x0 + 2 * pad + 1]
        # squared distance to the smear's segment through the centre
        px, py = xs - cx, ys - cy
        ux, uy = dx / max(length, 1e-6), dy / max(length, 1e-6)
        t = np.clip(px * ux + py * uy, -length / 2, length / 2)
        d2 = (px - t * ux)**2 + (py - t * uy)**2
        alpha = np.exp(-d2 / (2 * sigma * sigma)) * np.random.uniform(0.7, 1)
        alpha *= min(1.0, (2 * r) / (2 * r + 0.5 * length))
        rows = slice(max(0, y0), min(h, y0 + 2 * pad + 1))
        cols = slice(max(0, x0), min(w, x0 + 2 * pad + 1))
        if rows.start >= rows.stop or cols.start >= cols.stop:
            return None
        a = alpha[rows.start - y0:rows.stop - y0,
                  cols.start - x0:cols.stop - x0][..., None]
        grey = np.random.uniform(*self.grey)
        img[rows, cols] = np.clip(img[rows, cols] * (1 - a) + grey * a, 0,
                                  255).astype(np.uint8)
        bw, bh = 2 * r + abs(dx), 2 * r + abs(dy)
        box = [
            max(0, cx - bw / 2),
            max(0, cy - bh / 2),
            min(w, cx + bw / 2),
            min(h, cy + bh / 2)
        ]
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return None
        return box

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(count={self.count}, '
                f'sigma={self.sigma}, grey={self.grey}, '
                f'streak={self.streak}, feet={self.feet}, prob={self.prob}, '
                f'ball_label={self.ball_label})')
