"""Evaluation: COCO mAP per class (:mod:`.metric`, MMDetection's
CocoMetric) and the ball's distance-based figures (:mod:`.ball_metrics`)."""
from .metric import FieldCocoMetric

__all__ = ['FieldCocoMetric']
