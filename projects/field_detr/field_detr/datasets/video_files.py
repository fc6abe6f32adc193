"""Video files read frame by frame and written (OpenCV, MPEG-4), for the
tracker, ``infer.py`` and the generated clips."""
from typing import Iterator, List, Tuple

import cv2
import numpy as np

from ..errors import InputError


def frames(path: str) -> Iterator[np.ndarray]:
    """The BGR frames of the video at ``path``, in order; refuses, with one
    line, a file that is not a readable video."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise InputError(f'{path}: cannot open video')
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def read_frames(path: str, batch_size: int) -> Iterator[List[np.ndarray]]:
    """:func:`frames` in batches of ``batch_size`` (the last one shorter)."""
    batch = []
    for frame in frames(path):
        batch.append(frame)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def video_info(path: str) -> Tuple[float, int, Tuple[int, int]]:
    """``(fps, frame count or 0, (width, height))`` of a video."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise InputError(f'{path}: cannot open video')
    info = (cap.get(cv2.CAP_PROP_FPS)
            or 25.0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)
                         or 0), (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                                 int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))))
    cap.release()
    return info


def video_writer(path: str, fps: float, size: Tuple[int,
                                                    int]) -> cv2.VideoWriter:
    """An MPEG-4 (``mp4v``) writer of ``size`` = ``(width, height)`` frames
    at ``fps``; refuses, with one line, a path it cannot write."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             tuple(size))
    if not writer.isOpened():
        raise InputError(f'{path}: cannot write video')
    return writer
