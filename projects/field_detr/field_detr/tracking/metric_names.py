"""One naming scheme for logged scalars, in MLflow and TensorBoard alike.

MMEngine logs ``loss``, ``lr``, ``coco/bbox_mAP``...; users' notebooks know
``train_loss``, ``learning_rate``, ``val_map``... .
"""
import re
from typing import Dict

_FIXED = {
    'loss': 'train_loss',
    'lr': 'learning_rate',
    'backbone_lr': 'learning_rate_backbone',
    'base_lr': 'base_learning_rate',
    'time': 'iter_time',
    'data_time': 'data_time',
    'grad_norm': 'grad_norm',
    'memory': 'memory_gpu_mb',  # MMEngine's CUDA max-allocated, MB
    'memory_ram_mb': 'memory_ram_mb',
    'coco/bbox_mAP': 'val_map',
    'coco/bbox_mAP_50': 'val_map_50',
    'coco/bbox_mAP_75': 'val_map_75',
    'coco/bbox_mAP_s': 'val_map_small',
    'coco/bbox_mAP_m': 'val_map_medium',
    'coco/bbox_mAP_l': 'val_map_large',
}
_CLASS_SUFFIX = {'mAP': 'val_ap', 'mAP_50': 'val_ap50', 'mAP_75': 'val_ap75'}
# <class>_mAP[_50|_75][_<size bin>] (FieldCocoMetric's per-class keys)
_CLASS_AP = re.compile(r'^(.+?)_(mAP(?:_50|_75)?)(?:_([a-z]+))?$')


def metric_name(key: str, validation: bool = False) -> str:
    """The logged name of an MMEngine scalar key.

    ``coco/<class>_mAP[_50|_75]`` becomes ``val_ap[50|75]_<class>``, and
    ``coco/<class>_mAP[_50]_<size>`` ``val_ap[50]_<class>_<size>``; other
    ``coco/`` keys get a ``val_`` prefix (``val_ball_recall_10px``); loss
    parts get a ``train_`` prefix; timings logged with validation metrics
    get a ``val_`` prefix so they do not mix with the training ones.
    """
    if validation and key in ('time', 'data_time'):
        return f'val_{_FIXED[key]}'
    if key in _FIXED:
        return _FIXED[key]
    if key.startswith('coco/'):
        name = key[len('coco/'):]
        match = _CLASS_AP.match(name)
        if match:
            cls, suffix, size = match.groups()
            return '_'.join([_CLASS_SUFFIX[suffix], cls] +
                            ([size] if size else []))
        return 'val_' + name
    if 'loss' in key:
        return 'train_' + key
    return key


#: Step markers MMEngine puts among the scalars; the step says it already.
_STEP_KEYS = ('epoch', 'iter', 'step')


def rename_scalars(scalars: Dict[str, float]) -> Dict[str, float]:
    """Rename a dict of scalars (one ``add_scalars`` call), without the
    step markers."""
    validation = any(k.startswith('coco/') for k in scalars)
    return {
        metric_name(k, validation): v
        for k, v in scalars.items() if k not in _STEP_KEYS
    }
