# DINO-4scale R-50 for players and the ball: the small-object model family
# beside the main config's DETR R-50 (which stays the default).
#
# Why: DETR predicts from one stride-32 map; DINO's deformable attention
# reads four levels (strides 8-64), its denoising queries roughly halve the
# epochs needed, and its two-stage encoder proposes boxes where objects are.
# On COCO (MMDetection's figures) DINO-4scale R-50 reaches 49.0 box AP in 12
# epochs, DETR R-50 42.0 in 500.
#
# The model is MMDetection's dino-4scale_r50_8xb2-12e_coco.py model, with 2
# classes and the head's loss batched (FastDINOHead; tests/test_dino.py
# checks the model against that config, so a change in either shows).
# Everything else is the main config's (detr_r50_field.py): the dataset
# and its checks, the augmentation (ball copy-paste, flip, colour,
# multi-scale resize), bfloat16 AMP, gradient accumulation, the
# checkpoint layout, MLflow/TensorBoard, the metric with the ball figures,
# the EMA / early-stopping switches; the schedule is shorter (warm-up, then
# cosine over 24 epochs).
# The decoder's self-attention runs through PyTorch's fused attention
# (FieldDINO, attention='sdpa': the same parameters and computation as
# MMDetection's DINO, checkpoints load both ways). The ball head is the
# main config's (BallHeatmapHead on ResNet-50's stride-4 and stride-8
# levels, field_detr/models/ball_detector.py): the ball detections are its,
# DINO's own ball predictions are dropped. model.ball_head=None gives back
# MMDetection's DINO exactly.
# mmcv's MultiScaleDeformableAttention runs its CUDA kernel on CUDA tensors
# (MMCV_WITH_CUDA_OPS=1 bash tools/setup.sh builds it) and a pure-PyTorch
# path otherwise.
_base_ = './detr_r50_field.py'

num_classes = 2
model = dict(
    _delete_=True,
    type='FieldDINO',
    attention='sdpa',
    num_queries=900,  # num_matching_queries
    with_box_refine=True,
    as_two_stage=True,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1,
        # the batch lands on the GPU with a non-blocking copy
        non_blocking=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='ChannelMapper',
        in_channels=[512, 1024, 2048],
        kernel_size=1,
        out_channels=256,
        act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32),
        num_outs=4),
    encoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=256, num_levels=4, dropout=0.0),
            ffn_cfg=dict(
                embed_dims=256, feedforward_channels=2048, ffn_drop=0.0))),
    decoder=dict(
        num_layers=6,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.0),
            cross_attn_cfg=dict(embed_dims=256, num_levels=4, dropout=0.0),
            ffn_cfg=dict(
                embed_dims=256, feedforward_channels=2048, ffn_drop=0.0)),
        post_norm_cfg=None),
    positional_encoding=dict(
        num_feats=128, normalize=True, offset=0.0, temperature=20),
    # DINOHead with a batched, sync-light loss (equal losses and gradients,
    # tested); type='DINOHead' gives the stock one back
    bbox_head=dict(
        type='FastDINOHead',
        num_classes=num_classes,
        sync_cls_avg_factor=True,
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    dn_cfg=dict(
        label_noise_scale=0.5,
        box_noise_scale=1.0,
        group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=100)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    ball_head={{_base_.ball_head}},
    test_cfg=dict(max_per_img=300))

# Schedule: 1 warm-up epoch, cosine to epoch 24 (MMDetection trains DINO
# 12, 24 or 36 epochs on COCO), validation every 2 epochs.
max_epochs = 24
warmup_epochs = 1
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
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
# DINO's optimiser is the DETR base's (AdamW 1e-4, weight decay 1e-4,
# backbone x0.1, gradient clip 0.1); the ball head learns at the main
# config's 4x, clipped on its own norm.
optim_wrapper = dict(
    paramwise_cfg=dict(
        _delete_=True,
        custom_keys={
            'backbone': dict(lr_mult=0.1),
            'ball_head': dict(lr_mult=4.0)
        },
        clip_separately=['ball_head']))
default_hooks = dict(checkpoint=dict(full_interval=4))

# Start from MMDetection's COCO-trained DINO-4scale R-50 (12 epochs, box AP
# 49.0): its person and sports-ball rows of every classification branch
# (the 6 decoder layers' and the encoder's proposal branch) and of the
# denoising label embedding become player and ball.
coco_pretrained = dict(
    type='CocoTransplantHook',
    checkpoint='https://download.openmmlab.com/mmdetection/v3.0/dino/'
    'dino-4scale_r50_8xb2-12e_coco/'
    'dino-4scale_r50_8xb2-12e_coco_20221202_182705-55b2bba2.pth')
custom_hooks = [
    dict(type='RNGStateHook'),
    # a NaN/Inf loss stops training, naming the iteration; the losses are
    # read from the device every 20 iterations (the logger's interval) and
    # before every checkpoint, so no checkpoint holds a diverged model
    dict(type='FiniteLossHook', interval=20),
    dict(type='MemoryHook', cleanup_interval=50),
    dict(type='MLflowRunHook', log_checkpoints='milestones'),
    coco_pretrained,
]
