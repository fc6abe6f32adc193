"""The hyper-parameters, architecture and environment worth comparing runs
by, as flat MLflow params (a few dozen, not the whole config)."""
import platform
from typing import Dict

from ..hooks.coco_transplant_hook import coco_start_checkpoint
from ..optim import AMP_WRAPPERS

#: MLflow's limit on a param value.
MAX_PARAM_LENGTH = 6000


def _get(cfg, path: str, default=None):
    node = cfg
    for part in path.split('.'):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return default
    return node


def _scales(pipeline) -> str:
    scales = []
    for t in pipeline or []:
        for key in ('scale', 'scales'):
            if key in t:
                scales.append(str(t[key]))
    return '; '.join(scales)


def config_params(cfg) -> Dict[str, object]:
    """Training, augmentation and model parameters from a config."""
    cfg = cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg
    optim = _get(cfg, 'optim_wrapper', {})
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    warmup = [s for s in schedulers if s.get('type') == 'LinearLR']
    train_pipeline = _get(cfg, 'train_dataloader.dataset.pipeline', [])
    test_pipeline = _get(cfg, 'test_dataloader.dataset.pipeline', [])
    model = cfg.get('model', {})
    backbone = model.get('backbone', {})
    return {
        'batch_size':
        _get(cfg, 'train_dataloader.batch_size'),
        'accumulation_steps':
        optim.get('accumulative_counts', 1),
        'optimizer':
        _get(optim, 'optimizer.type'),
        'lr':
        _get(optim, 'optimizer.lr'),
        'weight_decay':
        _get(optim, 'optimizer.weight_decay'),
        'backbone_lr_mult':
        _get(optim, 'paramwise_cfg.custom_keys.backbone.lr_mult', 1.0),
        'grad_clip_max_norm':
        _get(optim, 'clip_grad.max_norm'),
        'epochs':
        _get(cfg, 'train_cfg.max_epochs'),
        'val_interval':
        _get(cfg, 'train_cfg.val_interval'),
        'warmup_epochs':
        warmup[0].get('end') if warmup else 0,
        'lr_schedule':
        ' -> '.join(s.get('type', '?') for s in schedulers),
        'amp':
        optim.get('type') in AMP_WRAPPERS,
        'amp_dtype':
        str(optim.get('dtype') or 'float16')
        if optim.get('type') in AMP_WRAPPERS else None,
        'compile':
        bool(cfg.get('compile')),
        'num_workers':
        _get(cfg, 'train_dataloader.num_workers'),
        'train_scales':
        _scales(train_pipeline),
        'test_scale':
        _scales(test_pipeline),
        'augmentation':
        ', '.join(t['type'] for t in train_pipeline
                  if t['type'] not in ('LoadImageFromFile', 'LoadAnnotations',
                                       'PackDetInputs')),
        'seed':
        _get(cfg, 'randomness.seed'),
        'model':
        model.get('type'),
        'backbone':
        f'{backbone.get("type", "?")}-{backbone.get("depth", "")}',
        'backbone_init':
        str(_get(backbone, 'init_cfg.checkpoint', 'none')),
        'encoder_layers':
        _get(model, 'encoder.num_layers'),
        'decoder_layers':
        _get(model, 'decoder.num_layers'),
        'num_queries':
        model.get('num_queries'),
        'embed_dims':
        _get(model, 'bbox_head.embed_dims'),
        'num_classes':
        _get(model, 'bbox_head.num_classes'),
        'coco_pretrained':
        coco_start_checkpoint(cfg) is not None,
    }


def environment_params() -> Dict[str, object]:
    """Versions, device and the number of training processes (the
    process group is up before the runner logs its config)."""
    import mmcv
    import mmdet
    import mmengine
    import torch
    from mmengine.dist import get_world_size
    cuda = torch.cuda.is_available()
    return {
        'torch_version': torch.__version__,
        'mmdet_version': mmdet.__version__,
        'mmcv_version': mmcv.__version__,
        'mmengine_version': mmengine.__version__,
        'python_version': platform.python_version(),
        'device': torch.cuda.get_device_name(0) if cuda else 'cpu',
        'world_size': get_world_size(),
    }


def dataset_params(name: str, dataset) -> Dict[str, object]:
    """Image and box counts of a built FieldCocoDataset."""
    split = getattr(dataset, 'split', None)
    if split is None:
        return {f'{name}_images': len(dataset)}
    params = {
        f'{name}_images': len(split.images),
        f'{name}_boxes': split.num_annotations,
        f'{name}_dir': split.img_dir,
    }
    for cls, count in split.class_counts().items():
        params[f'{name}_boxes_{cls}'] = count
    return params


def as_mlflow_params(params: Dict[str, object]) -> Dict[str, str]:
    """Drop empty values; stringify and cut to MLflow's length limit."""
    return {
        k: str(v)[:MAX_PARAM_LENGTH]
        for k, v in params.items() if v is not None and v != ''
    }
