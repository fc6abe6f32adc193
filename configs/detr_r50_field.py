# DETR R-50 for players and the ball: the main (GPU) training config.
#
# MMDetection's DETR R-50 (detr_r50_8xb2-150e_coco.py) with two classes and
# the ball head (_base_/models/detr_r50_field.py), on the field dataset
# (_base_/datasets/field_coco.py: ball copy-paste, flip, colour jitter,
# DETR's multi-scale resize), AdamW with 5 warm-up epochs then cosine to
# epoch 50, bfloat16 AMP, batch 4 per GPU x gradient accumulation 2
# (_base_/schedules/adamw_warmup_cosine.py), validation every 10 epochs,
# the checkpoint layout, MLflow/TensorBoard and a start from MMDetection's
# COCO-trained DETR (_base_/default_runtime.py).
# On a machine without CUDA, tools/train.py turns AMP and compile off and
# says so in one log line each.
_base_ = [
    './_base_/models/detr_r50_field.py', './_base_/datasets/field_coco.py',
    './_base_/schedules/adamw_warmup_cosine.py', './_base_/default_runtime.py'
]
