"""What the tools do to a config before the Runner is built: split folders,
work dir, AMP, device fallbacks, learning-rate scaling, optional hooks."""
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from ..datasets.validation import ANN_RELPATH
from ..messages import tell_user
from ..optim import AMP_WRAPPERS

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# the float32 wrappers --amp replaces
FLOAT32_WRAPPERS = ('OptimWrapper', 'FieldOptimWrapper')


def set_split(cfg: Config, loader: str, split_dir: Optional[str]) -> None:
    """Point ``<loader>_dataloader`` (and its evaluator) at a split folder."""
    if split_dir is None:
        return
    cfg[f'{loader}_dataloader'].dataset.data_root = split_dir
    evaluator = cfg.get(f'{loader}_evaluator')
    if loader != 'train' and evaluator is not None:
        evaluator.ann_file = osp.join(split_dir, ANN_RELPATH)


def set_work_dir(cfg: Config, config_path: str,
                 work_dir: Optional[str]) -> None:
    """``--work-dir``, else the config's, else ``work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def enable_amp(cfg: Config) -> None:
    """``--amp``: wrap the optimiser in ``Bf16AwareAmpOptimWrapper``
    (MMEngine's ``AmpOptimWrapper``; float16 with a dynamic loss scale
    unless the config names a dtype)."""
    if cfg.optim_wrapper.get('type', 'OptimWrapper') in FLOAT32_WRAPPERS:
        cfg.optim_wrapper.type = 'Bf16AwareAmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def disable_amp(cfg: Config) -> bool:
    """Back to a float32 wrapper (``FieldOptimWrapper`` from the project's
    AMP wrapper, keeping its clip arguments; MMEngine's ``OptimWrapper``
    from its own); True if AMP was on."""
    kind = cfg.optim_wrapper.get('type')
    if kind not in AMP_WRAPPERS:
        return False
    cfg.optim_wrapper.type = 'FieldOptimWrapper' \
        if kind == 'Bf16AwareAmpOptimWrapper' else 'OptimWrapper'
    cfg.optim_wrapper.pop('loss_scale', None)
    cfg.optim_wrapper.pop('dtype', None)
    return True


def apply_device_fallbacks(cfg: Config, launcher: str = 'none') -> None:
    """Turn off what this machine cannot do, one log line for each.

    Without CUDA: ``AmpOptimWrapper`` becomes ``OptimWrapper`` (MMEngine's
    AMP wrapper needs a GPU), ``compile`` is switched off (inductor on a CPU
    compiles for minutes and DETR's dynamic shapes recompile), pinned memory
    is off and distributed runs use gloo instead of NCCL.
    """
    if torch.cuda.is_available():
        if (cfg.optim_wrapper.get('type') in AMP_WRAPPERS and
                cfg.optim_wrapper.get('dtype') in ('bfloat16', torch.bfloat16)
                and not torch.cuda.is_bf16_supported()):
            cfg.optim_wrapper.dtype = 'float16'
            _note('this GPU has no bfloat16: mixed precision in float16 '
                  'with a dynamic loss scale')
        return
    if disable_amp(cfg):
        _note('no CUDA device: mixed precision (AMP) is off, training in '
              'float32')
    if cfg.get('compile'):
        cfg.compile = False
        _note('no CUDA device: torch.compile is off')
    for loader in LOADERS:
        if cfg.get(loader) and cfg[loader].get('pin_memory'):
            cfg[loader].pin_memory = False
    if launcher != 'none':
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
        if cfg.env_cfg.dist_cfg.get('backend', 'nccl') == 'nccl':
            cfg.env_cfg.dist_cfg.backend = 'gloo'
            _note('no CUDA device: distributed backend is gloo')
        # DDP over CPU modules takes no device ids
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))


def effective_batch(cfg: Config, world_size: int) -> int:
    """GPUs (processes) x batch size x gradient accumulation."""
    return (world_size * cfg.train_dataloader.batch_size *
            cfg.optim_wrapper.get('accumulative_counts', 1))


def apply_lr_scaling(cfg: Config, enable: bool, world_size: int) -> None:
    """Log the effective batch and, with ``enable`` (``--auto-scale-lr`` or
    ``auto_scale_lr.enable``), scale the learning rate linearly to it:
    ``lr = lr x effective batch / auto_scale_lr.base_batch_size``.

    MMEngine's own rule ignores gradient accumulation, so it is switched off
    here and this one applied instead.
    """
    rule = cfg.get('auto_scale_lr') or {}
    enable = enable or bool(rule.get('enable', False))
    batch = effective_batch(cfg, world_size)
    msg = (f'effective batch {batch} = {world_size} process(es) x batch '
           f'{cfg.train_dataloader.batch_size} x accumulation '
           f'{cfg.optim_wrapper.get("accumulative_counts", 1)}')
    if enable and rule.get('base_batch_size'):
        base = rule['base_batch_size']
        lr = cfg.optim_wrapper.optimizer.lr
        cfg.optim_wrapper.optimizer.lr = lr * batch / base
        msg += (f'; learning rate scaled {lr:g} -> '
                f'{cfg.optim_wrapper.optimizer.lr:g} (base batch {base})')
    else:
        msg += '; learning rate not scaled (--auto-scale-lr to scale it)'
    if 'auto_scale_lr' in cfg:
        cfg.auto_scale_lr.enable = False
    tell_user(msg)


def add_optional_hooks(cfg: Config,
                       ema: bool = False,
                       early_stop: Optional[int] = None) -> None:
    """Turn the config's ``ema`` and ``early_stopping`` sections (or
    ``--ema`` / ``--early-stop N``) into MMDetection's ``EMAHook`` and
    MMEngine's ``EarlyStoppingHook`` in ``custom_hooks``. A config that
    lists either hook itself keeps its own."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {h.get('type') for h in hooks}
    section = cfg.get('ema') or {}
    if (ema or section.get('enable')) and 'EMAHook' not in present:
        hooks.append(
            dict(
                type='EMAHook',
                ema_type='ExpMomentumEMA',
                momentum=section.get('momentum', 0.0002),
                gamma=section.get('gamma', 2000),
                update_buffers=True,
                priority=49))
        tell_user('EMA of the weights on: validation, checkpoints and the '
                  'exported model use the averaged weights')
    section = dict(cfg.get('early_stopping') or {})
    if early_stop:
        section.update(enable=True, patience=early_stop)
    if section.get('enable') and 'EarlyStoppingHook' not in present:
        hooks.append(
            dict(
                type='EarlyStoppingHook',
                monitor=section.get('monitor', 'coco/bbox_mAP'),
                rule=section.get('rule', 'greater'),
                patience=section.get('patience', 3),
                min_delta=section.get('min_delta', 0.001)))
        tell_user(f'early stopping on: {hooks[-1]["monitor"]}, patience '
                  f'{hooks[-1]["patience"]} validation rounds')
    cfg.custom_hooks = hooks


def normalise_dataloaders(cfg: Config) -> None:
    """Drop worker-only options from loaders with ``num_workers=0``.

    torch refuses ``persistent_workers`` and ``prefetch_factor`` without
    worker processes; a user who sets ``num_workers=0`` (to debug, or for
    bit-exact resume) should not have to unset them too.
    """
    for loader in LOADERS:
        if cfg.get(loader) and cfg[loader].get('num_workers', 0) == 0:
            cfg[loader].persistent_workers = False
            cfg[loader].pop('prefetch_factor', None)


def _note(msg: str) -> None:
    print_log(msg, logger='current', level=30)
