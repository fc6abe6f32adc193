"""Training transforms for the ball: copies of it pasted elsewhere."""
from typing import Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class BallCopyPaste(BaseTransform):
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

    def transform(self, results: dict) -> dict:
        labels = results.get('gt_bboxes_labels')
        if labels is None or np.random.rand() >= self.prob:
            return results
        balls = np.flatnonzero(labels == self.ball_label)
        if not len(balls):
            return results
        img = results['img']
        h, w = img.shape[:2]
        boxes = results['gt_bboxes'].numpy()
        x1, y1, x2, y2 = np.round(boxes[np.random.choice(balls)]).astype(int)
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return results
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
        if not new:
            return results
        results['img'] = img
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
