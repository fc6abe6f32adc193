# The small-budget model: a small DINO with the ball head, the model the
# demo trains (tools/run_demo.sh) and the one to pick without a GPU or a
# COCO start. From random initialisation on 2 CPU cores it learns players
# that carry over to frames it never saw and finds the ball with its head
# within minutes (README, docs/training.md).
#
# The DINO demo config (MMDetection's DINO-4scale, two classes, the
# project's dataset, hooks, checkpoints and tracking) with ResNet-18 at half
# width, 2+2 transformer layers with small feed-forward layers, 50 queries
# and 20 denoising queries, at 320x192 (_base_/datasets/field_small.py).
# The width stays 256: MMDetection's DINO decoder encodes the reference
# points with 128 features per coordinate whatever embed_dims.
_base_ = [
    './_base_/models/dino_4scale_r50_field.py',
    './_base_/datasets/field_small.py', './_base_/schedules/cpu_demo.py',
    './_base_/demo_runtime.py'
]

model = dict(
    attention='stock',
    num_queries=50,
    backbone=dict(depth=18, base_channels=32, init_cfg=None),
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
# There are no COCO weights of this small model (the R-50 configs have
# them): it learns from random initialisation.
coco_checkpoint = None

# From random initialisation the backbone learns at the full rate (the
# ball head keeps the base's 4x and its own clip).
optim_wrapper = dict(
    optimizer=dict(lr=3e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))

# 40 epochs of the demo's 48 frames at batch 2 (960 iterations): one warm-up
# epoch, cosine to the end; validation and a full checkpoint every 10.
train_cfg = dict(max_epochs=40, val_interval=10)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(full_interval=10),
    visualization=dict(interval=20))
