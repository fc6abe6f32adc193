"""Datasets and transforms: COCO splits checked record by record
(:mod:`.validation`), the dataset class (:mod:`.coco`), the ball's
training transforms (:mod:`.transforms`), video files read frame by frame
(:mod:`.video_files`) and MOTChallenge tracks (:mod:`.mot`)."""
from .coco import FieldCocoDataset, check_splits
from .transforms import BallCopyPaste, SyntheticBalls
from .validation import load_coco_split

__all__ = [
    'BallCopyPaste', 'FieldCocoDataset', 'SyntheticBalls', 'check_splits',
    'load_coco_split'
]
