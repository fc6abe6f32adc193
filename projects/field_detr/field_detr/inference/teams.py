"""The players' teams from the colour of their shirts, as the tracker uses
them: players of two teams who cross are told apart by their shirts."""
from typing import Optional

import cv2
import numpy as np

#: the shirt within a player's box: rows and columns, as box fractions
SHIRT_ROWS = (0.25, 0.48)
SHIRT_COLS = (0.25, 0.75)

#: the least share of a shirt band left visible by the players in front
#: for its colour to be read from the visible part alone
MIN_VISIBLE = 0.25


def shirt_colours(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The median CIE Lab colour of each box's shirt band (``(n, 3)``
    float32) in a BGR image; zeros for a box with no pixel in the image.

    A player stands behind those whose boxes end lower in the image
    (nearer the camera): the band's pixels inside their boxes show their
    shirts and are left out, unless less than :data:`MIN_VISIBLE` of it is
    left (then the whole band)."""
    out = np.zeros((len(boxes), 3), np.float32)
    if not len(boxes):
        return out
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    h, w = lab.shape[:2]
    boxes = np.asarray(boxes, np.float32)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        bw, bh = x2 - x1, y2 - y1
        top = int(np.clip(y1 + SHIRT_ROWS[0] * bh, 0, h - 1))
        bottom = int(np.clip(y1 + SHIRT_ROWS[1] * bh, top + 1, h))
        left = int(np.clip(x1 + SHIRT_COLS[0] * bw, 0, w - 1))
        right = int(np.clip(x1 + SHIRT_COLS[1] * bw, left + 1, w))
        patch = lab[top:bottom, left:right]
        visible = np.ones(patch.shape[:2], bool)
        for fx1, fy1, fx2, fy2 in boxes[boxes[:, 3] > y2]:  # in front
            rows = slice(max(0, int(fy1) - top), max(0, int(fy2) - top))
            cols = slice(max(0, int(fx1) - left), max(0, int(fx2) - left))
            visible[rows, cols] = False
        pixels = patch[visible] if visible.mean() >= MIN_VISIBLE \
            else patch.reshape(-1, 3)
        if len(pixels):
            out[k] = np.median(pixels, axis=0)
    return out


class TeamSplit:
    """Shirt colours clustered into ``teams`` groups (k-means, as
    roboflow/sports' team classifier clusters its crops' embeddings),
    fitted once on the confident players of a clip's first frames.

    Args:
        teams (int): how many groups: 2 for two teams; referees or
            goalkeepers in colours of their own want more. Defaults to 2.
        seed (int): k-means' seed. Defaults to 0.
    """

    def __init__(self, teams: int = 2, seed: int = 0) -> None:
        self.teams, self.seed = teams, seed
        self._model = None

    @property
    def fitted(self) -> bool:
        return self._model is not None

    def fit(self, colours: np.ndarray) -> Optional['TeamSplit']:
        """Fit on ``colours`` (``(n, 3)``); None where there are fewer
        players than teams (nothing to split)."""
        from sklearn.cluster import KMeans
        colours = np.asarray(colours, np.float32).reshape(-1, 3)
        if len(np.unique(colours, axis=0)) < self.teams:
            return None
        self._model = KMeans(
            self.teams, n_init=10, random_state=self.seed).fit(colours)
        return self

    def predict(self, colours: np.ndarray) -> np.ndarray:
        """The team (0 .. teams-1) of each colour."""
        colours = np.asarray(colours, np.float32).reshape(-1, 3)
        if not len(colours):
            return np.zeros(0, np.int64)
        return self._model.predict(colours).astype(np.int64)
