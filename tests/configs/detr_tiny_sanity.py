# A small DETR for the learning-sanity test: ResNet-18 and fewer transformer
# layers so that it overfits a few images on a CPU in minutes. Dataset,
# pipeline, DETR head, Hungarian assigner and losses are the demo config's
# (and so the main config's).
_base_ = '../../configs/detr_r50_field_demo.py'

model = dict(
    num_queries=30,
    backbone=dict(depth=18, init_cfg=None),
    neck=dict(in_channels=[512]),
    encoder=dict(num_layers=2),
    decoder=dict(num_layers=2))

max_epochs = 40
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         T_max=max_epochs, eta_min=1e-5, convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=2e-4))
train_dataloader = dict(batch_size=4)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
