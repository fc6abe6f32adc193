"""LocalDetector with supervision: Detections round-trip to
``supervision.Detections`` and supervision's annotator draws them (the
model is the one the learning test trains)."""
import numpy as np
import pytest
import supervision as sv

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def detector(learned):
    from field_detr import LocalDetector
    return LocalDetector(
        learned['checkpoint'], confidence_threshold=0.3, device='cpu')


def test_round_trip_and_annotator(detector, learned):
    import glob
    import os.path as osp

    import cv2
    frame = cv2.imread(
        sorted(glob.glob(osp.join(learned['split'], 'images', '*')))[0])
    det = detector.detect(frame)
    assert len(det) > 0
    converted = det.to_supervision()
    assert isinstance(converted, sv.Detections)
    np.testing.assert_array_equal(converted.xyxy, det.boxes)
    np.testing.assert_array_equal(converted.confidence, det.scores)
    np.testing.assert_array_equal(converted.class_id, det.labels)
    assert list(converted.data['class_name']) == det.class_names
    assert set(converted.data['class_name']) <= {'player', 'ball'}

    drawn = sv.BoxAnnotator(thickness=2).annotate(frame.copy(), converted)
    changed = np.any(drawn != frame, axis=2)
    assert changed.any()
    # the pixels drawn lie on the boxes' outlines
    x1, y1, x2, y2 = det.boxes[0].round().astype(int)
    outline = np.zeros_like(changed)
    cv2.rectangle(outline.view(np.uint8), (x1, y1), (x2, y2), 1, 4)
    assert changed[outline].mean() > 0.5
