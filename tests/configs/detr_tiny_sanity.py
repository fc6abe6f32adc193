# A small DETR for the learning-sanity test: the small demo config's model
# (ResNet-18 at half width, 2+2 transformer layers, 320x192 input) with 30
# queries, no dropout and a higher learning rate, so that it overfits 4
# images (one batch, 1000 iterations) on a CPU in about eight minutes. Its
# ball head (the configs' 32 channels, and a stem of its own on the image)
# sees 4-8 copies of the ball in every image, also over players: with the 3
# balls of 4 images it learns what a ball looks like, measured on frames it
# never saw (tools/analysis_tools/eval_ball_head.py, docs/evaluation.md).
# The dataset, the DETR head, the Hungarian assigner and the losses are the
# demo config's, and so the main config's.
_base_ = '../../configs/detr_small_field.py'

num_queries = 30
model = dict(
    num_queries=num_queries,
    # two stride-2 convolutions on the image, added to the fused levels: it
    # finds the 3.5 px balls the backbone's levels alone miss
    ball_head=dict(image_channels=16),
    encoder=dict(
        layer_cfg=dict(
            self_attn_cfg=dict(dropout=0.0), ffn_cfg=dict(ffn_drop=0.0))),
    decoder=dict(
        layer_cfg=dict(
            self_attn_cfg=dict(dropout=0.0),
            cross_attn_cfg=dict(dropout=0.0),
            ffn_cfg=dict(ffn_drop=0.0))),
    test_cfg=dict(max_per_img=num_queries))

max_epochs = 1000
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        eta_min=2e-5,
        convert_to_iter_based=True),
]
# A randomly initialised backbone learns at the full rate; the ball head at
# the configs' 4x, clipped on its own norm (held-out recall and
# precision@5px in docs/evaluation.md).
optim_wrapper = dict(
    optimizer=dict(lr=3e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))

# one training scale (the small config's first); validation and test are
# the small config's (320x192)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='BallCopyPaste', copies=(4, 8), prob=1.0, over_players=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='RandomChoiceResize', scales=[(320, 192)], keep_ratio=True),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
# 1000 one-iteration epochs: one checkpoint at the end is enough.
default_hooks = dict(
    checkpoint=dict(_delete_=True, type='CheckpointHook', interval=max_epochs))
