# DINO-4scale R-50 for players and the ball: the small-object model family
# beside the DETR. MMDetection's dino-4scale_r50_8xb2-12e_coco.py model
# (tests/models/test_configs.py checks it against that config) with two
# classes and the head's loss batched (FastDINOHead; type='DINOHead' gives
# the stock one back). The decoder's self-attention runs through PyTorch's
# fused attention (attention='sdpa': the same parameters and computation
# as MMDetection's DINO; checkpoints load both ways). The ball head is the
# DETR's (configs/_base_/models/detr_r50_field.py): the ball detections are
# its, DINO's own ball predictions are dropped; model.ball_head=None gives
# back MMDetection's DINO exactly.
# mmcv's MultiScaleDeformableAttention runs its CUDA kernel on CUDA tensors
# (MMCV_WITH_CUDA_OPS=1 bash tools/setup.sh builds it) and a pure-PyTorch
# path otherwise.
_base_ = './detr_r50_field.py'

# MMDetection's COCO-trained DINO-4scale R-50 (12 epochs, box AP 49.0): its
# person and sports-ball rows of every classification branch (the decoder
# layers' and the encoder's proposal branch) and of the denoising label
# embedding become player and ball.
coco_checkpoint = (
    'https://download.openmmlab.com/mmdetection/v3.0/dino/'
    'dino-4scale_r50_8xb2-12e_coco/'
    'dino-4scale_r50_8xb2-12e_coco_20221202_182705-55b2bba2.pth')
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
    bbox_head=dict(
        type='FastDINOHead',
        num_classes=2,
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
