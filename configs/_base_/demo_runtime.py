# The field runtime at the demo's CPU scale: logs every 5 iterations, a full
# checkpoint every 2 epochs, validation pictures every 4 images.
_base_ = './default_runtime.py'

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(full_interval=2),
    visualization=dict(interval=4))
log_processor = dict(window_size=5)
