# Players and the ball in COCO split folders (datasets/train, datasets/val:
# images/ + annotations/annotations.json), classes read by category name
# (FieldCocoDataset checks each split before training); per-class COCO mAP
# with the ball figures (FieldCocoMetric). Full-HD frames: multi-scale
# training (shorter side 480-800, DETR's), 1333x800 for validation and test.
_base_ = 'mmdet::_base_/datasets/coco_detection.py'

classes = ('player', 'ball')
metainfo = dict(classes=classes)
# tools/train.py --train-dir/--val-dir and tools/test.py --test-dir set these.
train_dir = 'datasets/train'
val_dir = 'datasets/val'
ann_file = 'annotations/annotations.json'

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    # 1-3 copies of the frame's ball where no box is, in half the frames:
    # more balls, at other places, for the ball head
    dict(type='BallCopyPaste', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='PhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18),
    dict(
        type='RandomChoiceResize',
        scales=[(s, 1333) for s in range(480, 801, 32)],
        keep_ratio=True),
    dict(type='PackDetInputs'),
]
loader_defaults = dict(
    batch_size=4,
    num_workers=6,
    persistent_workers=True,
    prefetch_factor=2,
    pin_memory=True)
dataset_defaults = dict(
    type='FieldCocoDataset',
    ann_file=ann_file,
    data_prefix=dict(img='images/'),
    metainfo=metainfo,
    backend_args=backend_args)
train_dataloader = dict(
    **loader_defaults,
    dataset=dict(
        **dataset_defaults,
        _delete_=True,
        data_root=train_dir,
        pipeline=train_pipeline))
# validation and test keep MMDetection's test_pipeline (resize to 1333x800)
val_dataloader = dict(
    **loader_defaults, dataset=dict(**dataset_defaults, data_root=val_dir))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True, type='FieldCocoMetric', ann_file=f'{val_dir}/{ann_file}')
test_evaluator = val_evaluator
