# DETR R-50 for players and the ball: the main (GPU) training config.
#
# Differences from mmdet's detr_r50_8xb2-150e_coco.py:
#   * 2 classes (player, ball) read from COCO split folders by category name
#   * the same model, computed faster: FieldDETR (attention through
#     scaled_dot_product_attention) and FastDETRHead (the Hungarian matching
#     of all decoder layers and images batched, one host round trip per
#     step); set model.type='DETR' and model.bbox_head.type='DETRHead' for
#     MMDetection's own classes
#   * batch 4 per GPU x gradient accumulation 2, bfloat16 AMP, parameter
#     groups merged for the fused AdamW
#   * 5 warm-up epochs, then cosine annealing to epoch 50
#   * copies of the ball pasted elsewhere in half the frames (for the ball
#     head), flip, colour jitter, DETR multi-scale resize (shorter side
#     480-800)
#   * validation every 10 epochs with per-class COCO mAP
#   * a ball head beside the DETR (BallHeatmapHead): a CenterNet heatmap
#     at stride 4 from the backbone's stride-4 and stride-8 levels; the ball
#     detections are its, the players the DETR's. model.ball_head=None
#     removes it and gives back MMDetection's DETR exactly
# On a machine without CUDA, tools/train.py turns AMP and compile off and
# says so in one log line each.
_base_ = 'mmdet::detr/detr_r50_8xb2-150e_coco.py'

custom_imports = dict(imports=['field_detr'], allow_failed_imports=False)

classes = ('player', 'ball')
metainfo = dict(classes=classes)
# tools/train.py --train-dir/--val-dir and tools/test.py --test-dir set these.
train_dir = 'datasets/train'
val_dir = 'datasets/val'
ann_file = 'annotations/annotations.json'

# The ball head reads ResNet-50's first two stages (strides 4 and 8),
# fuses them top-down into a stride-4 map and predicts a centre heatmap,
# box size and offset (field_detr/models/ball_head.py). It trains from
# scratch, with the DETR, into the same checkpoint; backbone_grad=0 keeps
# its gradient out of the shared backbone and the optimiser clips its
# gradients on their own norm (clip_separately below), so the DETR trains
# exactly as it would without the head.
ball_head = dict(
    type='BallHeatmapHead',
    in_indices=(0, 1),
    in_channels=(256, 512),
    # 32 channels: +6 % on R-50's inference at 1333x750 (64: +17 %)
    feat_channels=32,
    backbone_grad=0.0,
    label=classes.index('ball'))
model = dict(
    type='FieldDETR',
    attention='sdpa',
    ball_head=ball_head,
    # MMDetection's preprocessor, its output unchanged, without a host copy
    # per image (models/data_preprocessor.py); the batch lands on the GPU
    # with a non-blocking copy (pinned memory). canvases=[(h, w), ...] pads
    # every batch to one of a few shapes (for cuda_graphs; see
    # tools/analysis_tools/canvas_stats.py)
    data_preprocessor=dict(type='FieldDetDataPreprocessor', non_blocking=True),
    # True: backbone to decoder as one CUDA graph per input shape on a GPU
    # (models/cuda_graphs.py); off until measured faster on a GPU
    cuda_graphs=False,
    bbox_head=dict(type='FastDETRHead', num_classes=len(classes)))

# Schedule ------------------------------------------------------------------
max_epochs = 50
warmup_epochs = 5
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
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

# AdamW lr 1e-4, wd 1e-4, backbone lr x0.1 and clip 0.1 come from the base;
# the ball head learns at x4, clipped on its own norm.
# GroupedOptimWrapperConstructor keeps those per-parameter settings in a few
# groups (fused AdamW on CUDA). bfloat16 needs no loss scaling; GPUs without
# bfloat16 fall back to float16 with a dynamic loss scale.
optim_wrapper = dict(
    type='Bf16AwareAmpOptimWrapper',
    dtype='bfloat16',
    loss_scale='dynamic',
    accumulative_counts=2,
    constructor='GroupedOptimWrapperConstructor',
    # the ball head starts from scratch: 4x the rate (measured on the small
    # model: held-out ball recall@5px 0.58 -> 0.79 at the same budget), and
    # its gradients are clipped on their own norm, so the DETR's clipped
    # steps are those it takes without the head
    paramwise_cfg=dict(
        custom_keys={'ball_head': dict(lr_mult=4.0)},
        clip_separately=['ball_head']))
# MMEngine's compile=True compiles the whole train_step, Hungarian matching
# included, and does not finish; FieldDETR(compile_modules=('backbone',))
# compiles the backbone alone. Both off: see docs/performance.md.
compile = False
# Linear LR scaling, off by default (tools/train.py --auto-scale-lr turns it
# on): lr x (processes x batch x accumulation) / 8, the base being this
# config's 4 x 2 on one GPU. The effective batch is logged at start.
auto_scale_lr = dict(enable=False, base_batch_size=8)

# Data ----------------------------------------------------------------------
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    # 1-3 copies of the frame's ball where no box is, in half the frames:
    # more balls, at other places, for the ball head
    dict(type='BallCopyPaste', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='PhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18),
    dict(
        type='RandomChoiceResize',
        scales=[(s, 1333) for s in range(480, 801, 32)],
        keep_ratio=True),
    dict(type='PackDetInputs'),
]
loader_defaults = dict(
    batch_size=4,
    num_workers=6,
    persistent_workers=True,
    prefetch_factor=2,
    pin_memory=True)
dataset_defaults = dict(
    type='FieldCocoDataset',
    ann_file=ann_file,
    data_prefix=dict(img='images/'),
    metainfo=metainfo,
    backend_args=backend_args)
train_dataloader = dict(
    **loader_defaults,
    dataset=dict(
        **dataset_defaults,
        _delete_=True,
        data_root=train_dir,
        pipeline=train_pipeline))
# validation and test keep the base's test_pipeline (resize to 1333x800)
val_dataloader = dict(
    **loader_defaults, dataset=dict(**dataset_defaults, data_root=val_dir))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True, type='FieldCocoMetric', ann_file=f'{val_dir}/{ann_file}')
test_evaluator = val_evaluator

# Runtime -------------------------------------------------------------------
# <work_dir>/checkpoints/: checkpoint_epoch_N_lightweight.pth every epoch
# (the 2 newest kept), checkpoint_epoch_N.pth (full) every 10,
# latest_checkpoint.pth (full) every epoch, best_model.pth by validation mAP.
# Validation metrics are logged at the iteration they were computed, on the
# same x-axis as the training scalars.
# `lr` is the transformer's learning rate (optimizer.lr), `backbone_lr` the
# backbone's (MMEngine's RuntimeInfoHook logs the first param group's).
default_hooks = dict(
    runtime_info=dict(type='FieldRuntimeInfoHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    # a few validation images with predicted boxes (TensorBoard, MLflow)
    visualization=dict(
        type='DetVisualizationHook', draw=True, interval=50, score_thr=0.3),
    checkpoint=dict(
        _delete_=True,
        type='CheckpointLayoutHook',
        full_interval=10,
        keep_lightweight=2,
        save_best='coco/bbox_mAP',
        rule='greater'))
# Start from MMDetection's COCO-trained DETR R-50, its person and sports-ball
# classifier rows becoming player and ball, so epoch 0 already detects both
# (skipped on resume or load_from; falls back to ImageNet weights with a
# warning when the file cannot be fetched). Remove the hook, or point
# `checkpoint` at a local copy, to change that.
# The checkpoint and class map are the hook's defaults
# (field_detr/hooks/coco_transplant_hook.py); FIELD_DETR_COCO_START=0 in the
# environment skips it.
coco_pretrained = dict(type='CocoTransplantHook')
custom_hooks = [
    dict(type='RNGStateHook'),
    # a NaN/Inf loss stops training, naming the iteration; the losses are
    # read from the device every 20 iterations (the logger's interval) and
    # before every checkpoint, so no checkpoint holds a diverged model
    dict(type='FiniteLossHook', interval=20),
    # memory_ram_mb / memory_gpu_mb, gc every 50 iterations
    dict(type='MemoryHook', cleanup_interval=50),
    # checkpoints (full, latest, best), dataset facts, logs and the best
    # model into MLflow
    dict(type='MLflowRunHook', log_checkpoints='milestones'),
    coco_pretrained,
]

# Optional hooks, off by default (tools/train.py --ema / --early-stop N, or
# enable=True here):
# * EMA of the weights: mmdet's EMAHook with ExpMomentumEMA. Validation,
#   best_model.pth, export and LocalDetector then use the averaged weights,
#   and --resume restores the average. Off: see docs/training.md.
# * Early stopping: MMEngine's EarlyStoppingHook; patience counts validation
#   rounds (train_cfg.val_interval epochs each); min_delta 0.001 = 0.1 mAP
#   point. A stopped run writes its final checkpoints and ends its MLflow
#   run FINISHED with the reason in the stop_reason tag.
# ExpMomentumEMA's weight of the new weights: (1 - momentum) *
# exp(-(1 + iter) / gamma) + momentum, from ~1 at the start to momentum.
ema = dict(enable=False, momentum=0.0002, gamma=2000)
early_stopping = dict(
    enable=False, monitor='coco/bbox_mAP', patience=3, min_delta=0.001)

# Tracking: MLflow (MLFLOW_TRACKING_URI, else tracking_uri, else the embedded
# SQLite store ./mlruns/mlflow.db) and TensorBoard (under the work dir), both
# with the metric names train_loss, learning_rate, val_map, val_ap_player...
vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='FieldTensorboardVisBackend'),
    dict(
        type='FieldMLflowVisBackend',
        exp_name='detr_training',
        tracking_uri=None),
]
visualizer = dict(
    type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
randomness = dict(seed=42)
log_processor = dict(window_size=20)
