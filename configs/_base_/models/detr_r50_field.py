# MMDetection's DETR R-50 (mmdet::detr/detr_r50_8xb2-150e_coco.py: this is
# its model, field for field, which tests/models/test_configs.py checks)
# for two classes, computed faster, with the ball head:
#   * FieldDETR: attention through scaled_dot_product_attention
#     (attention='stock' keeps mmcv's path); FastDETRHead: the Hungarian
#     matching of all decoder layers and images batched. model.type='DETR'
#     and bbox_head.type='DETRHead' give MMDetection's own classes
#   * the ball head (BallHeatmapHead): a CenterNet heatmap at stride 4 from
#     the backbone's stride-4 and stride-8 levels; the ball detections are
#     its, the players the DETR's. model.ball_head=None removes it and gives
#     back MMDetection's DETR exactly
# MMDetection's COCO-trained weights of this model, the start
# CocoTransplantHook gives the run (configs/_base_/default_runtime.py).
coco_checkpoint = ('https://download.openmmlab.com/mmdetection/v3.0/detr/'
                   'detr_r50_8xb2-150e_coco/'
                   'detr_r50_8xb2-150e_coco_20221023_153551-436d03e8.pth')

# The ball head reads ResNet's first two stages (strides 4 and 8), fuses
# them top-down into a stride-4 map and predicts a centre heatmap, box size
# and offset (field_detr/models/ball_head.py). It trains from scratch, with
# the detector, into the same checkpoint; backbone_grad=0 keeps its
# gradient out of the shared backbone and the optimiser clips its gradients
# on their own norm (configs/_base_/schedules/), so the detector trains
# exactly as it would without the head.
ball_head = dict(
    type='BallHeatmapHead',
    in_indices=(0, 1),
    in_channels=(256, 512),
    # 32 channels: +6 % on R-50's inference at 1333x750 (64: +17 %)
    feat_channels=32,
    backbone_grad=0.0,
    label=1)  # the ball's index in the datasets' classes
detr_attention = dict(
    embed_dims=256, num_heads=8, dropout=0.1, batch_first=True)
detr_ffn = dict(
    embed_dims=256,
    feedforward_channels=2048,
    num_fcs=2,
    ffn_drop=0.1,
    act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    type='FieldDETR',
    attention='sdpa',
    num_queries=100,
    # MMDetection's preprocessor, its output unchanged, without a host copy
    # per image; the batch lands on the GPU with a non-blocking copy
    data_preprocessor=dict(
        type='FieldDetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1,
        non_blocking=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='ChannelMapper',
        in_channels=[2048],
        kernel_size=1,
        out_channels=256,
        act_cfg=None,
        norm_cfg=None,
        num_outs=1),
    encoder=dict(
        num_layers=6,
        layer_cfg=dict(self_attn_cfg=detr_attention, ffn_cfg=detr_ffn)),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=detr_attention,
            cross_attn_cfg=detr_attention,
            ffn_cfg=detr_ffn),
        return_intermediate=True),
    positional_encoding=dict(num_feats=128, normalize=True),
    bbox_head=dict(
        type='FastDETRHead',
        num_classes=2,
        embed_dims=256,
        loss_cls=dict(
            type='CrossEntropyLoss',
            bg_cls_weight=0.1,
            use_sigmoid=False,
            loss_weight=1.0,
            class_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    ball_head=ball_head,
    # the GPU-only speed switches, in one place and all off
    # (field_detr/models/gpu_speed.py; docs/performance.md: what each
    # measured on an H200): CUDA graphs per input shape, padding canvases,
    # channels-last, compiled submodules
    gpu=dict(
        cuda_graphs=False,
        canvases=None,
        channels_last=False,
        compile_modules=[]),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=1.),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    test_cfg=dict(max_per_img=100))
