"""A single, self-describing model file for inference.

The file (``torch.save`` of plain data, so ``torch.load(weights_only=True)``
reads it) holds:

=====================  ======================================================
``format``, ``version``  ``'field_detr.exported_model'``, 1
``classes``            class names in label order
``model``              the MMDetection model config (a plain dict)
``test_pipeline``      the inference transforms (resize, packing)
``normalization``      mean, std and channel order of the data preprocessor
``state_dict``         weights only (no optimizer), float32 or float16
``dtype``              ``'float32'`` or ``'float16'``
``sha256``             checksum of the weights, verified on load
``source``             the training checkpoint's path, epoch, iteration and,
                       for a best model, its score
=====================  ======================================================
"""
import copy
import hashlib
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, ConfigDict

from ..checkpoint.files import load_checkpoint_file, revise_keys, save_atomic
from ..errors import InputError

FORMAT = 'field_detr.exported_model'
VERSION = 1


def weights_checksum(state_dict) -> str:
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous().reshape(-1)
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b'')
    return h.hexdigest()


def _plain(obj):
    """ConfigDicts to dicts (safe-loader friendly); tuples stay tuples,
    transforms such as Resize need them."""
    if isinstance(obj, (ConfigDict, dict)):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


def _drop_pretrained(model_cfg: dict) -> dict:
    """The weights come with the file: no ``init_cfg`` download on build."""
    cfg = copy.deepcopy(model_cfg)
    stack = [cfg]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            node.pop('init_cfg', None)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return cfg


def inference_pipeline(cfg: Config) -> list:
    """The test pipeline reading an array instead of a file, without
    annotations."""
    pipeline = []
    for t in cfg.test_dataloader.dataset.pipeline:
        t = _plain(t)
        kind = t['type'].split('.')[-1]
        if kind == 'LoadAnnotations':
            continue
        if kind == 'LoadImageFromFile':
            t = dict(type='mmdet.LoadImageFromNDArray')
        if kind == 'PackDetInputs':
            t['meta_keys'] = [
                'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'
            ]
        pipeline.append(t)
    return pipeline


def config_of_checkpoint(checkpoint: dict, config: Optional[str]) -> Config:
    """``config`` if given, else the config text stored in the checkpoint."""
    if config is not None:
        if not osp.isfile(config):
            raise InputError(f'{config}: config file not found')
        return Config.fromfile(config)
    text = checkpoint.get('meta', {}).get('cfg')
    if not text:
        raise InputError('the checkpoint stores no config; pass --config')
    return Config.fromstring(text, file_format='.py')


def build_export(checkpoint_path: str,
                 config: Optional[str] = None,
                 fp16: bool = False) -> dict:
    """The exported-model dict for a training checkpoint."""
    ckpt = load_checkpoint_file(checkpoint_path)
    cfg = config_of_checkpoint(ckpt, config)
    meta = ckpt.get('meta', {})
    classes = list(
        meta.get('dataset_meta', {}).get('classes') or cfg.get('classes')
        or ('player', 'ball'))
    state_dict = revise_keys(ckpt['state_dict'])
    if fp16:
        state_dict = {
            k: v.half() if v.is_floating_point() else v
            for k, v in state_dict.items()
        }
    pre = cfg.model.data_preprocessor
    return dict(
        format=FORMAT,
        version=VERSION,
        classes=classes,
        model=_drop_pretrained(_plain(cfg.model)),
        test_pipeline=inference_pipeline(cfg),
        normalization=dict(
            mean=list(pre.mean),
            std=list(pre.std),
            bgr_to_rgb=bool(pre.get('bgr_to_rgb', False))),
        state_dict=state_dict,
        dtype='float16' if fp16 else 'float32',
        sha256=weights_checksum(state_dict),
        # per class, chosen on the validation frames (best_model.pth's)
        score_thresholds=dict(meta.get('score_thresholds') or {}),
        source=dict(
            checkpoint=osp.abspath(checkpoint_path),
            epoch=meta.get('epoch'),
            iter=meta.get('iter'),
            best_metric=meta.get('best_metric'),
            best_score=meta.get('best_score')))


def export_model(checkpoint_path: str,
                 output: str,
                 config: Optional[str] = None,
                 fp16: bool = False) -> dict:
    """Write the exported model to ``output`` atomically; return it."""
    exported = build_export(checkpoint_path, config, fp16)
    save_atomic(exported, output)
    return exported


def load_exported(path: str) -> dict:
    """Read an exported model, checking format and checksum."""
    data = load_checkpoint_file(path)
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        raise InputError(f'{path}: not a field_detr exported model')
    if weights_checksum(data['state_dict']) != data['sha256']:
        raise InputError(f'{path}: weights do not match their checksum '
                         '(file damaged or edited)')
    return data


def is_exported(path: str) -> bool:
    """Whether ``path`` is an exported model (cheap: reads one pickle)."""
    try:
        data = torch.load(
            path, map_location='cpu', weights_only=True, mmap=True)
    except Exception:
        return False
    return isinstance(data, dict) and data.get('format') == FORMAT
