"""Export, LocalDetector, ONNX, infer.py and the COCO head transplant."""
import json
import os.path as osp
from collections import Counter

import cv2
import numpy as np
import pytest
import torch

from helpers.runs import SMALL_CONFIG, ckpt, run_tool


@pytest.fixture(scope='module')
def exported(demo_run, tmp_path_factory):
    out = tmp_path_factory.mktemp('export')
    paths = dict(
        fp32=str(out / 'model.pth'),
        fp16=str(out / 'model16.pth'),
        onnx=str(out / 'model.onnx'))
    source = ckpt(demo_run['work_dir'], 'latest_checkpoint.pth')
    run_tool('export_model.py', '--checkpoint', source, '--output',
             paths['fp32'])
    proc = run_tool('export_model.py', '--checkpoint', source, '--output',
                    paths['fp16'], '--fp16', '--onnx', paths['onnx'])
    return dict(
        paths, source=source, onnx_log=proc.stdout, out=str(out), **demo_run)


def test_export_file_is_self_describing(exported):
    data = torch.load(exported['fp32'], weights_only=True)
    assert data['format'] == 'field_detr.exported_model'
    assert data['classes'] == ['player', 'ball']
    # the training config's model: MMDetection's DETR with SDPA attention
    assert data['model']['type'] == 'FieldDETR'
    assert data['model']['bbox_head']['type'] == 'FastDETRHead'
    assert data['normalization']['mean'] == [123.675, 116.28, 103.53]
    assert not any('optimizer' in k for k in data)
    assert data['source']['epoch'] == 3
    # half the size in float16
    ratio = osp.getsize(exported['fp16']) / osp.getsize(exported['fp32'])
    assert 0.45 < ratio < 0.55


def test_the_thresholds_chosen_in_validation_travel_with_the_model(
        demo_run, tmp_path):
    """best_model.pth holds the thresholds the metric chose on the
    validation frames (the ball's at least); the exported model keeps them
    and LocalDetector cuts each class at its own (0.5 for a class without
    one) unless a threshold is given."""
    from field_detr import LocalDetector
    best = ckpt(demo_run['work_dir'], 'best_model.pth')
    thresholds = torch.load(
        best, weights_only=True)['meta']['score_thresholds']
    assert set(thresholds) <= {'player', 'ball'}
    assert 0 < thresholds['ball'] < 1
    path = str(tmp_path / 'model.pth')
    run_tool('export_model.py', '--checkpoint', best, '--output', path)
    assert torch.load(
        path, weights_only=True)['score_thresholds'] == thresholds
    image = osp.join(demo_run['data']['val'], 'images', '000000.jpg')
    every = LocalDetector(path, 0.0, 'cpu').detect(image)
    own = LocalDetector(path, device='cpu').detect(image)

    def cut(det):
        return np.array([thresholds.get(c, 0.5) for c in det.class_names])

    assert len(own) == int((every.scores >= cut(every)).sum()) < len(every)
    assert np.all(own.scores >= cut(own))
    given = LocalDetector(path, 0.5, 'cpu').detect(image)
    assert len(given) == int((every.scores >= 0.5).sum())


def test_damaged_export_is_refused(exported, tmp_path):
    from field_detr import InputError, LocalDetector
    data = torch.load(exported['fp32'], weights_only=True)
    key = next(iter(data['state_dict']))
    data['state_dict'][key] = data['state_dict'][key] + 1
    torch.save(data, tmp_path / 'edited.pth')
    with pytest.raises(InputError, match='do not match their checksum'):
        LocalDetector(str(tmp_path / 'edited.pth'))


def test_local_detector_matches_test_py(exported, tmp_path):
    """The exported model on an image gives tools/test.py's detections."""
    from field_detr import LocalDetector
    out = str(tmp_path / 'results.json')
    run_tool('test.py', SMALL_CONFIG, exported['source'], '--test-dir',
             exported['data']['val'], '--out', out, '--work-dir',
             str(tmp_path / 'test'), '--cfg-options',
             'test_dataloader.num_workers=0')
    with open(out) as f:
        results = [d for d in json.load(f) if d['image_id'] == 1]
    results.sort(key=lambda d: -d['score'])
    image = osp.join(exported['data']['val'], 'images', '000000.jpg')

    det = LocalDetector(
        exported['fp32'], confidence_threshold=0.0, device='cpu').detect(image)
    # the DETR's 100 queries less those it calls a ball, and the ball
    # head's 10 peaks
    assert len(det) == len(results)
    assert (det.labels == 1).sum() == 10 and len(det) <= 110
    # pair each detection with a test.py one (queries with equal scores may
    # come in either order); each must have a twin within 1e-3
    remaining = [(np.array([x, y, x + w,
                            y + h]), d['score'], d['category_id'] - 1)
                 for x, y, w, h, d in ((*d['bbox'], d) for d in results)]
    for box, score, label in zip(det.boxes, det.scores, det.labels):
        dist = [
            np.abs(b - box).max() + abs(s - score) + 10 * (lab != label)
            for b, s, lab in remaining
        ]
        best = int(np.argmin(dist))
        assert dist[best] < 1e-3, (box, score, label, remaining[best])
        remaining.pop(best)

    # the same from the training checkpoint, from RGB arrays, and in fp16
    bgr = cv2.imread(image)
    det_ckpt = LocalDetector(exported['source'], 0.0, 'cpu').detect(bgr)
    np.testing.assert_allclose(det_ckpt.boxes, det.boxes, atol=1e-4)
    det_rgb = LocalDetector(exported['fp32'], 0.0, 'cpu').detect(
        bgr[..., ::-1], color='rgb')
    np.testing.assert_allclose(det_rgb.boxes, det.boxes, atol=1e-4)
    det16 = LocalDetector(exported['fp16'], 0.0, 'cpu').detect(image)
    np.testing.assert_allclose(det16.scores[:10], det.scores[:10], atol=2e-2)


def test_threshold_batch_and_from_config(exported, tmp_path):
    from field_detr import LocalDetector
    images = [
        osp.join(exported['data']['val'], 'images', f'00000{i}.jpg')
        for i in range(3)
    ]
    all_dets = LocalDetector(exported['fp32'], 0.0, 'cpu').detect_batch(
        images, batch_size=2)
    cut = float(np.median(all_dets[0].scores))
    yaml_path = tmp_path / 'default.yaml'
    yaml_path.write_text('detection:\n  use_local_model: true\n'
                         f'  local_model_path: "{exported["fp32"]}"\n'
                         f'  confidence_threshold: {cut}\n  device: cpu\n')
    detector = LocalDetector.from_config(str(yaml_path))
    assert detector.confidence_threshold == pytest.approx(cut)
    dets = detector.detect_batch(images, batch_size=2)
    for full, kept in zip(all_dets, dets):
        assert len(kept) == int((full.scores >= cut).sum())
        assert np.all(kept.scores >= cut)
        assert set(kept.class_names) <= {'player', 'ball'}


def test_onnx_matches_pytorch(exported):
    line = [s for s in exported['onnx_log'].splitlines() if 'ONNX' in s][0]
    diff = float(line.rsplit('difference ', 1)[1].split()[0])
    assert diff < 1e-4, line
    import onnxruntime as ort
    sess = ort.InferenceSession(
        exported['onnx'], providers=['CPUExecutionProvider'])
    assert [o.name for o in sess.get_outputs()
            ] == ['scores', 'boxes', 'ball_scores', 'ball_boxes']


def test_infer_on_a_video_writes_an_annotated_video(exported, tmp_path):
    from field_detr.datasets.demo_data import draw_scene, sample_scene
    from field_detr.datasets.video_files import video_writer
    rng = np.random.default_rng(3)
    scene = sample_scene(rng, (640, 384))
    video = str(tmp_path / 'clip.mp4')
    writer = video_writer(video, 10, (640, 384))
    for i in range(6):
        scene['ball'] = (100 + 40 * i, 200, 5)
        frame, _ = draw_scene(np.random.default_rng(i), scene=scene)
        writer.write(frame)
    writer.release()
    out_dir = tmp_path / 'out'
    proc = run_tool('infer.py', exported['fp32'], video, '--out-dir', out_dir,
                    '--threshold', '0.0', '--device', 'cpu')
    assert 'fps' in proc.stdout
    cap = cv2.VideoCapture(str(out_dir / 'clip_det.mp4'))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = cap.read()
    assert ok and frames == 6 and first.shape == (384, 640, 3)
    coco = json.loads((out_dir / 'detections.json').read_text())
    assert [im['frame'] for im in coco['images']] == list(range(6))
    balls = [
        a['image_id'] for a in coco['annotations'] if a['category_id'] == 2
    ]
    # the ball head's 10 peaks per frame at threshold 0
    assert Counter(balls) == {im['id']: 10 for im in coco['images']}
    assert len(coco['annotations']) <= 6 * 110
    assert {c['name'] for c in coco['categories']} == {'player', 'ball'}
