# The small-budget model: a small DINO with the ball head, the model the
# demo trains (tools/run_demo.sh) and the one to pick without a GPU or a
# COCO start. From random initialisation on 2 CPU cores it learns players
# that carry over to frames it never saw and finds the ball with its head
# within minutes (README, docs/training.md).
#
# The DINO demo config (dino_r50_field_demo.py: MMDetection's DINO-4scale,
# two classes, the project's dataset, hooks, checkpoints and tracking) with
# ResNet-18 at half width, 2+2 transformer layers with small feed-forward
# layers, 50 queries and 20 denoising queries, at 320x192. The width stays
# 256: MMDetection's DINO decoder encodes the reference points with 128
# features per coordinate whatever embed_dims.
_base_ = './dino_r50_field_demo.py'

model = dict(
    num_queries=50,
    backbone=dict(depth=18, base_channels=32),
    neck=dict(in_channels=[64, 128, 256]),
    encoder=dict(
        num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=256))),
    decoder=dict(
        num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=256))),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=20)),
    # the ball head on the first two stages (strides 4 and 8) and a stem of
    # its own on the image: at 320x192 a ball is 2-6 px across, which the
    # randomly initialised, frozen first stage does not keep
    ball_head=dict(in_channels=(32, 64), image_channels=16),
    test_cfg=dict(max_per_img=50))

# From random initialisation the backbone learns at the full rate (the
# ball head keeps the base's 4x and its own clip).
optim_wrapper = dict(
    optimizer=dict(lr=3e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))

# 40 epochs of the demo's 48 frames at batch 2 (960 iterations): one warm-up
# epoch, cosine to the end; validation and a full checkpoint every 10.
max_epochs = 40
warmup_epochs = 1
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
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

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    # 4-8 copies of the frame's ball in every frame, also over players: the
    # head, trained from scratch, sees many balls a step
    dict(type='BallCopyPaste', copies=(4, 8), prob=1.0, over_players=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(
        type='RandomChoiceResize',
        scales=[(320, 192), (288, 173)],
        keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 192), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# No COCO start: there are no COCO weights of this small model (the R-50
# configs have them), and it learns from random initialisation.
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='FiniteLossHook', interval=20),
    dict(type='MemoryHook', cleanup_interval=50),
    dict(type='MLflowRunHook', log_checkpoints='milestones'),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(full_interval=10),
    visualization=dict(interval=20))
