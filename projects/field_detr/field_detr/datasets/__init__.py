"""Datasets and transforms: COCO splits checked record by record
(:mod:`.validation`), the dataset class (:mod:`.coco`), the ball's
training transforms (:mod:`.transforms`), video files read frame by frame
(:mod:`.video_files`) and MOTChallenge tracks (:mod:`.mot`)."""
from .coco import FieldCocoDataset, check_splits
from .transforms import BallCopyPaste
from .validation import load_coco_split

__all__ = [
    'BallCopyPaste', 'FieldCocoDataset', 'check_splits', 'load_coco_split'
]
