"""The pictures ``tools/infer.py`` writes: each box with a label on a tag of
its class's colour, legible on the green pitch."""
import numpy as np

from field_detr.inference.detector import COLOURS, Detections, draw_detections


def _tag(drawn, colour, rows):
    """The bounding box ``(x1, y1, x2, y2)`` of the pixels in ``colour``
    within ``rows``, and how many pixels inside it are dark (the text)."""
    ys, xs = np.nonzero(np.all(drawn[rows] == colour, axis=2))
    assert len(xs), f'nothing drawn in {colour}'
    y0 = rows.start or 0
    x1, y1, x2, y2 = xs.min(), ys.min() + y0, xs.max(), ys.max() + y0
    inside = drawn[y1:y2 + 1, x1:x2 + 1].reshape(-1, 3)
    return (x1, y1, x2, y2), int(np.all(inside < 60, axis=1).sum())


def test_labels_sit_on_tags_of_their_class_colour_inside_the_picture():
    """A player's label just above its box on a tag of the player colour
    with dark text, wider than the box; a box at the picture's top-right
    corner keeps its tag inside the picture."""
    pitch = np.zeros((120, 200, 3), np.uint8)
    pitch[:] = (40, 160, 40)  # grass, BGR
    det = Detections(
        boxes=np.array([[60, 50, 80, 100], [185, 0, 199, 10]], np.float32),
        scores=np.array([0.87, 0.61], np.float32),
        labels=np.array([0, 1]),
        classes=('player', 'ball'))
    drawn = draw_detections(pitch, det)
    assert np.array_equal(pitch[0, 0], (40, 160, 40))  # a copy, not in place
    (x1, y1, x2, y2), text = _tag(drawn, COLOURS[0], slice(0, 49))
    assert x1 == 60 and y2 == 48 and x2 - x1 > 40 and y2 - y1 >= 8
    assert text > 20  # 'player 0.87' in dark pixels on the tag
    (x1, y1, x2, y2), text = _tag(drawn, COLOURS[1], slice(0, 120))
    assert x1 >= 0 and x2 <= 199 and y1 >= 0 and x2 - x1 > 30
    assert text > 20
    # the pitch away from the boxes and tags is untouched
    assert np.array_equal(drawn[105:, :], pitch[105:, :])
