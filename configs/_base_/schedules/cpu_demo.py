# The schedule shrunk to a CPU: 6 epochs of the demo frames, one warm-up
# epoch from 1 % of the rate, cosine to the end, no gradient accumulation;
# validation and a full checkpoint every 2 epochs, logs every 5 iterations.
_base_ = './adamw_warmup_cosine.py'

train_cfg = dict(max_epochs=6, val_interval=2)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=1,
        eta_min=1e-6,
        convert_to_iter_based=True),
]
optim_wrapper = dict(accumulative_counts=1)
