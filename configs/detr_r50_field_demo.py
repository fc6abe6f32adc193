# The main config at the demo's CPU scale: the generated 640x384 frames
# (tools/make_demo_data.py), 6 epochs, validation and a full checkpoint
# every 2 epochs, no ImageNet download. The model, head, losses, assigner,
# augmentation and optimiser are the main config's.
_base_ = [
    './_base_/models/detr_r50_field.py', './_base_/datasets/field_demo.py',
    './_base_/schedules/cpu_demo.py', './_base_/demo_runtime.py'
]

# Like the main config, start from COCO-trained DETR when the file can be
# fetched (160 MB, cached by torch.hub); offline, train from random
# initialisation (no ImageNet download either), with one warning line.
# On a CPU, at the demo's short sequences (60 tokens at 320x192), PyTorch's
# scaled-dot-product attention with a padding mask is slower than mmcv's
# explicit path (step 1.07x vs 0.92x stock at 160x96, batch 16): same
# parameters and results, the CPU's faster way.
model = dict(backbone=dict(init_cfg=None), attention='stock')
