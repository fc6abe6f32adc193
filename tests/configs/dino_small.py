# A small DINO for the tests of the DINO family (tests/test_dino.py): the
# DINO demo config with ResNet-18 at half width, 2+2 transformer layers
# with small feed-forward layers, 50 queries and 20 denoising queries, at
# 320x192. The width stays 256: MMDetection's DINO decoder encodes the
# reference points with 128 features per coordinate whatever embed_dims.
# Losses, assigner, denoising, two-stage proposals, hooks, checkpoint layout
# and data loading are the DINO demo config's.
_base_ = '../../configs/dino_r50_field_demo.py'

model = dict(
    num_queries=50,
    backbone=dict(depth=18, base_channels=32),
    neck=dict(in_channels=[64, 128, 256]),
    encoder=dict(
        num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=256))),
    decoder=dict(
        num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=256))),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=20)),
    test_cfg=dict(max_per_img=50))

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
