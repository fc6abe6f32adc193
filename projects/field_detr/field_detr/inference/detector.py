"""``LocalDetector``: players and the ball in images, for video pipelines.

    from field_detr import LocalDetector

    detector = LocalDetector('models/detr_trained.pth',
                             confidence_threshold=0.5)
    det = detector.detect(frame)            # HxWx3 uint8, BGR (OpenCV) order
    det.boxes, det.scores, det.labels, det.class_names
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch

from ..errors import InputError
from .export import build_export, is_exported, load_exported
from .slicing import merge_views, slicing_settings, tile_windows

ImageLike = Union[str, np.ndarray]
#: The threshold of a class the model stores none for.
DEFAULT_THRESHOLD = 0.5


@dataclass
class Detections:
    """Detections in one image, sorted by score (highest first).

    Attributes:
        boxes: (N, 4) float32, ``x1, y1, x2, y2`` in original pixels.
        scores: (N,) float32 confidences.
        labels: (N,) int64 class indices into ``classes``.
        classes: all class names of the model.
    """
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    classes: Sequence[str] = field(default_factory=list)

    @property
    def class_names(self) -> List[str]:
        """The class name of each detection."""
        return [self.classes[i] for i in self.labels]

    def __len__(self) -> int:
        return len(self.scores)

    def to_supervision(self):
        """As ``supervision.Detections`` (``pip install supervision``)."""
        import supervision as sv
        return sv.Detections(
            xyxy=self.boxes.astype(np.float32),
            confidence=self.scores,
            class_id=self.labels.astype(int),
            data={'class_name': np.array(self.class_names)})


class LocalDetector:
    """Run a trained field_detr model on images.

    Args:
        model_path (str): an exported model (``tools/export_model.py``) or a
            training checkpoint. A training checkpoint needs its config,
            which it stores itself; ``config`` overrides it.
        confidence_threshold (float, optional): detections below it are
            dropped, of every class. Defaults to the model's own thresholds:
            those the training run chose per class on its validation frames
            (stored in ``best_model.pth`` and the exported model), 0.5 for a
            class without one.
        device (str, optional): ``'cuda'``, ``'cuda:1'``, ``'cpu'``...;
            default CUDA when available, else CPU.
        config (str, optional): config file, for a training checkpoint.
        slicing (dict, optional): sliced inference for small objects (the
            ball in a 4K frame): ``dict(tile=(W, H), overlap=0.2)``; the
            full frame and its overlapping tiles run as one batch and their
            detections are merged (:mod:`field_detr.inference.slicing`,
            SAHI's rule).
            Optional keys: ``match_metric`` ('IOS'), ``match_threshold``
            (0.5), ``full_frame`` (True). Default: no slicing. The tiles
            run as one batch, the full frame with them when its shape is
            theirs and as a second batch otherwise.
    """

    def __init__(self,
                 model_path: str,
                 confidence_threshold: Optional[float] = None,
                 device: Optional[str] = None,
                 config: Optional[str] = None,
                 slicing: Optional[dict] = None) -> None:
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
        from mmengine.dataset import Compose
        register_all_modules(init_default_scope=True)

        if not osp.isfile(model_path):
            raise InputError(f'{model_path}: model file not found')
        if is_exported(model_path):
            exported = load_exported(model_path)
        else:  # a training checkpoint (refused clearly when corrupt)
            exported = build_export(model_path, config)
        self.model_path = model_path
        self.classes = list(exported['classes'])
        self.confidence_threshold = confidence_threshold
        # each class's threshold: the given one, else the model's own, else
        # DEFAULT_THRESHOLD
        own = dict(exported.get('score_thresholds') or {})
        if confidence_threshold is not None:
            own = {name: confidence_threshold for name in self.classes}
        self.class_thresholds = np.array(
            [own.get(name, DEFAULT_THRESHOLD) for name in self.classes],
            dtype=np.float32)
        self.device = torch.device(
            device or ('cuda' if torch.cuda.is_available() else 'cpu'))
        self.model = MODELS.build(exported['model'])
        self.model.load_state_dict({
            k: v.float() if v.is_floating_point() else v
            for k, v in exported['state_dict'].items()
        })
        self.model.to(self.device).eval()
        self.pipeline = Compose(exported['test_pipeline'])
        self.info = exported.get('source', {})
        self.slicing = slicing_settings(slicing) if slicing else None

    @classmethod
    def from_config(cls, path: str, **overrides) -> 'LocalDetector':
        """Build from the ``detection:`` section of a YAML file such as
        ``configs/default.yaml`` (``local_model_path``, optional
        ``confidence_threshold`` (default: the model's own), ``device`` and
        ``slicing``:
        ``{tile: [W, H], overlap: 0.2}``)."""
        import yaml
        with open(path) as f:
            section = (yaml.safe_load(f) or {}).get('detection') or {}
        if 'local_model_path' not in section:
            raise InputError(f'{path}: detection.local_model_path is missing')
        model_path = section['local_model_path']
        if not osp.isabs(model_path) and not osp.exists(model_path):
            # relative to the YAML file's project root (configs/..)
            candidate = osp.join(
                osp.dirname(osp.dirname(osp.abspath(path))), model_path)
            model_path = candidate if osp.exists(candidate) else model_path
        kwargs = dict(
            model_path=model_path,
            confidence_threshold=section.get('confidence_threshold'),
            device=section.get('device'),
            slicing=section.get('slicing'))
        kwargs.update(overrides)
        return cls(**kwargs)

    def _load(self, image: ImageLike, color: str) -> np.ndarray:
        if isinstance(image, str):
            img = cv2.imread(image, cv2.IMREAD_COLOR)
            if img is None:
                raise InputError(f'{image}: not a readable image')
            return img
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3:
            raise InputError(
                f'expected an HxWx3 image array, got shape {img.shape}')
        if img.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        if color == 'rgb':
            img = img[..., ::-1]
        elif color != 'bgr':
            raise ValueError(f'color must be "bgr" or "rgb", got {color!r}')
        return np.ascontiguousarray(img)

    @torch.no_grad()
    def detect_batch(
            self,
            images: Iterable[ImageLike],
            batch_size: int = 4,
            color: str = 'bgr',
            slicing: Optional[dict] = None,
            thresholds: Optional[np.ndarray] = None) -> List[Detections]:
        """Detect in several images, ``batch_size`` at a time.

        Args:
            images: file paths or HxWx3 uint8 arrays.
            batch_size: images per forward pass (with slicing, each image's
                tiles are one forward pass, with its full frame when that
                has the tiles' shape).
            color: channel order of arrays, ``'bgr'`` (OpenCV, default) or
                ``'rgb'`` (PIL, imageio); paths are read by OpenCV.
            slicing: overrides the detector's ``slicing`` for this call;
                ``{}`` turns it off.
            thresholds: per class, overrides ``class_thresholds`` for this
                call (a tracker takes weaker boxes than a picture shows).
        """
        thresholds = self.class_thresholds if thresholds is None \
            else np.asarray(thresholds, dtype=np.float32)
        slicing = self.slicing if slicing is None else (
            slicing_settings(slicing) if slicing else None)
        images = list(images)
        if slicing:
            return [
                self._detect_sliced(
                    self._load(image, color), slicing, thresholds)
                for image in images
            ]
        results = []
        for start in range(0, len(images), batch_size):
            chunk = [
                self._load(image, color)
                for image in images[start:start + batch_size]
            ]
            results += [
                self._to_detections(p, thresholds)
                for p in self._forward(chunk)
            ]
        return results

    def _forward(self, arrays: List[np.ndarray]) -> list:
        """The model's ``pred_instances`` for BGR arrays, one batch."""
        data = dict(inputs=[], data_samples=[])
        for i, img in enumerate(arrays):
            packed = self.pipeline(dict(img=img, img_id=i))
            data['inputs'].append(packed['inputs'])
            data['data_samples'].append(packed['data_samples'])
        return [sample.pred_instances for sample in self.model.test_step(data)]

    def _detect_sliced(self, img: np.ndarray, slicing: dict,
                       thresholds: np.ndarray) -> Detections:
        height, width = img.shape[:2]
        windows = tile_windows(width, height, slicing['tile'],
                               slicing['overlap'])
        if slicing['full_frame'] or not windows:
            windows = [(0, 0, width, height)] + windows
        # One forward pass for all tiles (they share a size) and, when its
        # shape differs, one for the full frame: padding a smaller view up
        # to a batch's size would change what DETR sees of it.
        groups = {}
        for i, (x1, y1, x2, y2) in enumerate(windows):
            groups.setdefault((y2 - y1, x2 - x1), []).append(i)
        views = [None] * len(windows)
        for members in groups.values():
            crops = [
                np.ascontiguousarray(img[y1:y2, x1:x2])
                for x1, y1, x2, y2 in (windows[i] for i in members)
            ]
            for i, pred in zip(members, self._forward(crops)):
                views[i] = self._to_detections(pred, thresholds)
        boxes, scores, labels = merge_views(
            [(d.boxes, d.scores, d.labels) for d in views],
            [(x1, y1) for x1, y1, _, _ in windows], (height, width),
            slicing['match_metric'], slicing['match_threshold'])
        return Detections(
            boxes=boxes, scores=scores, labels=labels, classes=self.classes)

    def detect(self,
               image: ImageLike,
               color: str = 'bgr',
               slicing: Optional[dict] = None) -> Detections:
        """Detect in one image (a path or an HxWx3 uint8 array; see
        :meth:`detect_batch` for ``color`` and ``slicing``)."""
        return self.detect_batch([image],
                                 batch_size=1,
                                 color=color,
                                 slicing=slicing)[0]

    __call__ = detect

    def track(self, video: str, **kwargs):
        """Player ids and the ball's path through the video file ``video``
        (:func:`~field_detr.inference.video_tracks.track_video`: its
        keyword arguments, e.g. ``ball_track=BallTrack(max_gap=5)``;
        returns ``VideoTracks``, whose ``write`` writes MOTChallenge files
        and the ball's path)."""
        from .video_tracks import track_video
        return track_video(self, video, **kwargs)

    def _to_detections(self, pred, thresholds: np.ndarray) -> Detections:
        scores = pred.scores.float().cpu().numpy()
        labels = pred.labels.cpu().numpy()
        keep = np.flatnonzero(scores >= thresholds[labels])
        keep = keep[np.argsort(-scores[keep], kind='stable')]
        return Detections(
            boxes=pred.bboxes.float().cpu().numpy()[keep].astype(np.float32),
            scores=scores[keep].astype(np.float32),
            labels=labels[keep].astype(np.int64),
            classes=self.classes)


#: Box colours (BGR) per class index: players green, the ball orange.
COLOURS = [(120, 200, 0), (0, 140, 255), (255, 80, 80), (200, 0, 200)]


def draw_label(image: np.ndarray, text: str, x: int, y: int,
               colour: tuple) -> None:
    """Draw ``text`` in black on a tag of ``colour`` whose bottom-left
    corner is ``(x, y)`` (above a box), kept inside the image: legible on
    the pitch whatever the box's colour."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    (w, h), base = cv2.getTextSize(text, font, scale, 1)
    x = min(max(0, x), max(0, image.shape[1] - w - 2))
    y = max(y, h + base + 2)
    cv2.rectangle(image, (x, y - h - base - 2), (x + w + 2, y), colour, -1)
    cv2.putText(image, text, (x + 1, y - base - 1), font, scale, (0, 0, 0), 1,
                cv2.LINE_AA)


def draw_detections(image: np.ndarray, det: Detections) -> np.ndarray:
    """A copy of a BGR image with boxes, class names and scores drawn."""
    out = image.copy()
    for box, score, label in zip(det.boxes, det.scores, det.labels):
        colour = COLOURS[int(label) % len(COLOURS)]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        draw_label(out, f'{det.classes[label]} {score:.2f}', x1, y1 - 1,
                   colour)
    return out


def coco_records(det: Detections, image_id: int, first_ann_id: int) -> list:
    """COCO-style annotation dicts (xywh boxes, 1-based category ids)."""
    return [
        dict(
            id=first_ann_id + i,
            image_id=image_id,
            category_id=int(label) + 1,
            bbox=[
                float(box[0]),
                float(box[1]),
                float(box[2] - box[0]),
                float(box[3] - box[1])
            ],
            score=float(score))
        for i, (box, score,
                label) in enumerate(zip(det.boxes, det.scores, det.labels))
    ]
