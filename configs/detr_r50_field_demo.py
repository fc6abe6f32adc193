# The main config shrunk to a CPU schedule that finishes in a few minutes on
# the generated demo data (tools/make_demo_data.py): 640x384 input, 6
# epochs, validation and a full checkpoint every 2 epochs, no ImageNet
# download.
# Everything else (model, head, losses, assigner, augmentation, optimiser)
# is the main config's.
_base_ = './detr_r50_field.py'

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

# Like the main config, start from COCO-trained DETR when the file can be
# fetched (160 MB, cached by torch.hub); offline, train from random
# initialisation (no ImageNet download either), with one warning line.
# On a CPU, at the demo's short sequences (60 tokens at 320x192), PyTorch's
# scaled-dot-product attention with a padding mask is slower than mmcv's
# explicit path (step 1.07x vs 0.92x stock at 160x96, batch 16): same
# parameters and results, the CPU's faster way.
model = dict(backbone=dict(init_cfg=None), attention='stock')
custom_hooks = [
    dict(type='RNGStateHook'),
    # a NaN/Inf loss stops training, naming the iteration; the losses are
    # read from the device every 20 iterations (the logger's interval) and
    # before every checkpoint, so no checkpoint holds a diverged model
    dict(type='FiniteLossHook', interval=20),
    dict(type='MemoryHook', cleanup_interval=50),
    dict(type='MLflowRunHook'),
    dict(type='CocoTransplantHook'),
]

# Demo images are 640x384: train at their own size and half of it.
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
