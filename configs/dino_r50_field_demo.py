# The DINO config at the demo's CPU scale, as detr_r50_field_demo.py is the
# main config's: the generated 640x384 frames, 6 epochs, validation and a
# full checkpoint every 2, batch 2, no ImageNet download. On a CPU the
# deformable attention takes mmcv's pure-PyTorch path (loss + backward of
# the full-size model: ~8 s at batch 2, 320x192).
_base_ = [
    './_base_/models/dino_4scale_r50_field.py',
    './_base_/datasets/field_demo.py', './_base_/schedules/cpu_demo.py',
    './_base_/demo_runtime.py'
]

# On a CPU the decoder's self-attention keeps mmcv's explicit path
# (attention='stock'; the small DINO's loss + backward 1.136 s against
# 1.174 s with SDPA, batch 4 at 320x192): same parameters and results.
model = dict(backbone=dict(init_cfg=None), attention='stock')
