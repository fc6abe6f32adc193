"""Inference: the exported model (:mod:`.export`, :mod:`.onnx_export`),
``LocalDetector`` (:mod:`.detector`) and sliced inference
(:mod:`.slicing`)."""
from .detector import Detections, LocalDetector

__all__ = ['Detections', 'LocalDetector']
