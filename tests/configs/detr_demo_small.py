# The demo config with a small DETR, for the tests of everything around the
# model (checkpoints, resume, crash safety, tracking, export, the tools):
# ResNet-18 with 3 stages at half width (32 base channels: the learning
# config's step 0.49 s against 0.69 s at full width, one CPU thread,
# bench_train_step.py), 2+2 transformer layers, 320x192 input. Queries
# (100), hooks, checkpoint layout, schedule, data loading, batch size, head,
# assigner and losses are the demo config's. The tests that are about the
# demo config itself or about the model train the demo config.
_base_ = '../../configs/detr_r50_field_demo.py'

model = dict(
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
    ball_head=dict(in_indices=(0, 1), in_channels=(32, 64)),
    encoder=dict(
        num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=512))),
    decoder=dict(
        num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=512))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='BallCopyPaste', prob=0.5),
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
