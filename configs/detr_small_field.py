# A small DETR with the ball head at the demo's 320x192: ResNet-18 with 3
# stages at half width (32 base channels: the learning config's step 0.49 s
# against 0.69 s at full width, one CPU thread, bench_train_step.py), 2+2
# transformer layers. Fast enough on a CPU for trying everything around the
# model (checkpoints, resume, tracking, export, the tools, soak.py); its
# players do not carry over to new frames from random initialisation
# (docs/training.md), so for a model that detects, pick dino_small_field.py.
_base_ = [
    './_base_/models/detr_r50_field.py', './_base_/datasets/field_small.py',
    './_base_/schedules/cpu_demo.py', './_base_/demo_runtime.py'
]

model = dict(
    attention='stock',
    backbone=dict(
        depth=18,
        base_channels=32,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        init_cfg=None),
    neck=dict(in_channels=[128]),
    # the ball head reads the first two stages (strides 4 and 8)
    ball_head=dict(in_channels=(32, 64)),
    encoder=dict(
        num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=512))),
    decoder=dict(
        num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=512))))
