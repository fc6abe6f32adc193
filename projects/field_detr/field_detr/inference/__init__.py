"""Inference: the exported model (:mod:`.export`, :mod:`.onnx_export`),
``LocalDetector`` (:mod:`.detector`), sliced inference (:mod:`.slicing`)
and tracking through a video: player ids and the ball's path
(:mod:`.video_tracks`, :mod:`.ball_track`)."""
from .ball_track import BallPoint, BallTrack
from .detector import Detections, LocalDetector
from .video_tracks import VideoTracks, annotate_video, track_video

__all__ = [
    'BallPoint', 'BallTrack', 'Detections', 'LocalDetector', 'VideoTracks',
    'annotate_video', 'track_video'
]
