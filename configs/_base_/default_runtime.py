# MMDetection's runtime with the field hooks, checkpoints and tracking.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['field_detr'], allow_failed_imports=False)

# <work_dir>/checkpoints/: checkpoint_epoch_N_lightweight.pth every epoch
# (the 2 newest kept), checkpoint_epoch_N.pth (full) every 10,
# latest_checkpoint.pth (full) every epoch, best_model.pth by validation mAP.
# Validation metrics are logged at the iteration they were computed, on the
# same x-axis as the training scalars.
# `lr` is the detector's learning rate (optimizer.lr), `backbone_lr` the
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
        rule='greater'),
    # SIGTERM / SIGUSR1 (Slurm before its time limit, a spot instance's
    # notice, torchrun): finish the optimiser step, write
    # latest_checkpoint.pth, exit with status 75; --resume continues at the
    # epoch's next batch. default_hooks.preemption=None turns it off.
    preemption=dict(type='PreemptionHook', signals=('SIGTERM', 'SIGUSR1')))
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
    # Start from the model's COCO-trained weights (the model config's
    # coco_checkpoint), its person and sports-ball classifier rows becoming
    # player and ball, so epoch 0 already detects both (skipped on resume or
    # load_from, and where coco_checkpoint is None; falls back to the
    # configured initialisation with a warning when the file cannot be
    # fetched). FIELD_DETR_COCO_START=0 in the environment skips it.
    dict(type='CocoTransplantHook'),
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
