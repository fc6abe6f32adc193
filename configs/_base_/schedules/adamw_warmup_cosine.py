# AdamW (lr 1e-4, weight decay 1e-4, the backbone at x0.1, gradients
# clipped to norm 0.1: DETR's), a linear warm-up, then cosine annealing to
# the end of training: the cosine names no `end`, so MMEngine ends it at
# train_cfg.max_epochs and `tools/train.py --epochs N` (or any override of
# max_epochs) stretches it with the run. Validation every 10 epochs.
# bfloat16 AMP (GPUs without bfloat16 fall back to float16 with a dynamic
# loss scale; on a CPU tools/train.py trains in float32 and says so),
# gradient accumulation 2. MMEngine's epoch loop that continues a run
# preempted within an epoch at its next batch (docs/checkpoints.md).
max_epochs = 50
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=5,
        eta_min=1e-6,
        convert_to_iter_based=True),
]

# GroupedOptimWrapperConstructor keeps the per-parameter settings in a few
# groups (fused AdamW on CUDA). The ball head starts from scratch: 4x the
# rate (measured on the small model: held-out ball recall@5px 0.58 -> 0.79
# at the same budget), and its gradients are clipped on their own norm
# (clip_separately), so the detector's clipped steps are those it takes
# without the head. The clipped norm stays on the device until the logger
# reads it with the losses (defer_grad_norm; field_detr/optim/wrapper.py).
optim_wrapper = dict(
    type='Bf16AwareAmpOptimWrapper',
    dtype='bfloat16',
    loss_scale='dynamic',
    accumulative_counts=2,
    optimizer=dict(type='AdamW', lr=0.0001, weight_decay=0.0001),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    clip_separately=['ball_head'],
    defer_grad_norm=True,
    constructor='GroupedOptimWrapperConstructor',
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            'ball_head': dict(lr_mult=4.0)
        }))
# MMEngine's compile=True compiles the whole train_step, Hungarian matching
# included, and does not finish; FieldDETR(compile_modules=('backbone',))
# compiles the backbone alone. Both off: see docs/performance.md.
compile = False
# Linear LR scaling, off by default (tools/train.py --auto-scale-lr turns it
# on): lr x (processes x batch x accumulation) / 8, the base being the main
# config's 4 x 2 on one GPU. The effective batch is logged at start.
auto_scale_lr = dict(enable=False, base_batch_size=8)
