# The DINO config shrunk to the demo's CPU scale (generated 640x384 frames,
# tools/make_demo_data.py), as detr_r50_field_demo.py shrinks the main
# config: 6 epochs, validation and a full checkpoint every 2, batch 2, no
# ImageNet download. The model, losses, assigner, optimiser and hooks are
# dino_r50_field.py's. On a CPU the deformable attention takes mmcv's
# pure-PyTorch path (loss + backward of the full-size model: ~8 s at batch
# 2, 320x192).
_base_ = './dino_r50_field.py'

max_epochs = 6
warmup_epochs = 1
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-6,
        convert_to_iter_based=True),
]
optim_wrapper = dict(accumulative_counts=1)
# On a CPU the decoder's self-attention keeps mmcv's explicit path
# (attention='stock'; the small DINO's loss + backward 1.136 s against
# 1.174 s with SDPA, batch 4 at 320x192): same parameters and results.
model = dict(backbone=dict(init_cfg=None), attention='stock')

# Demo images are 640x384: train at their own size and smaller.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='BallCopyPaste', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(
        type='RandomChoiceResize',
        scales=[(640, 384), (576, 346), (512, 307)],
        keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(640, 384), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    batch_size=2, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(full_interval=2),
    visualization=dict(interval=4))
log_processor = dict(window_size=5)
