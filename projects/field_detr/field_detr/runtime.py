"""Config wiring shared by tools/train.py and tools/test.py.

The tools only parse arguments; what they do to a config lives here, where
tests reach it.
"""
import glob
import os
import os.path as osp
import re
import sys
from functools import wraps
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner.checkpoint import find_latest_checkpoint

from .data_validation import ANN_RELPATH, InputError  # noqa: F401 (re-export)
from .export import verify_checkpoint_file
from .hooks.checkpoint_layout_hook import (CHECKPOINT_DIR, FULL, LATEST,
                                           LIGHTWEIGHT)
from .optim import AMP_WRAPPERS
from .visualization.mlflow_backend import (FieldMLflowVisBackend,
                                           mlflow_backend_of)

CHECKPOINT_PATTERNS = ('*.pth', 'checkpoints/*.pth')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
MLFLOW_BACKEND = FieldMLflowVisBackend.__name__


def add_runner_args(parser) -> None:
    """``--cfg-options`` and the launcher arguments every Runner tool takes."""
    import argparse

    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
        help='override config entries, e.g. train_cfg.max_epochs=10')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
        help='job launcher; "pytorch" under torchrun')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)


def parse_runner_args(parser, argv=None):
    """Parse, and export ``LOCAL_RANK`` for launchers that pass it as an
    argument."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file and apply ``--cfg-options``."""
    if not osp.isfile(path):
        raise InputError(f'{path}: config file not found')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


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
        cfg.work_dir = osp.join(
            'work_dirs', osp.splitext(osp.basename(config_path))[0])


def existing_checkpoints(work_dir: str) -> list:
    return sorted(
        p for pattern in CHECKPOINT_PATTERNS
        for p in glob.glob(osp.join(work_dir, pattern)))


def set_resume(cfg: Config, resume: Optional[str]) -> None:
    """Apply ``--resume``: ``'auto'`` takes the newest checkpoint in the work
    dir, a path takes that file. Without ``--resume`` a work dir that holds
    checkpoints is refused, so a new run never overwrites an old one.
    """
    if resume is None:
        found = existing_checkpoints(cfg.work_dir)
        if found:
            raise InputError(
                f'{cfg.work_dir}: already holds checkpoints from an earlier '
                f'run ({osp.basename(found[-1])}, ...); pass --resume to '
                'continue it or --work-dir to start a new one')
        return
    cfg.resume = True
    if resume == 'auto':
        resume, why = resume_checkpoint(cfg.work_dir)
        if resume is None:
            raise InputError(
                f'{cfg.work_dir}: --resume found no checkpoint to continue '
                f'from ({why}); pass its path (--resume PATH) or drop '
                '--resume')
        print_log(f'--resume: {resume} ({why})', logger='current')
    verify_checkpoint_file(resume)
    cfg.load_from = resume
    continue_mlflow_run(cfg, resume)


def verify_start_checkpoints(cfg: Config) -> None:
    """Check, before anything is built, the local files a run will load
    besides ``--resume``: ``load_from``, else the COCO transplant's
    checkpoint (the hook skips itself on resume or ``load_from``; a missing
    file is its documented fallback). URLs are checked by the safe loader
    when fetched."""
    if cfg.get('resume'):
        return
    if cfg.get('load_from'):
        if '://' not in cfg.load_from:
            verify_checkpoint_file(cfg.load_from)
        return
    for hook in cfg.get('custom_hooks') or []:
        path = hook.get('checkpoint')
        if hook.get('type') == 'CocoTransplantHook' and path \
                and osp.isfile(path):
            verify_checkpoint_file(path)


def end_tracking(runner, status: str) -> None:
    """Mark the MLflow run of ``runner`` (if any) as ended with ``status``,
    e.g. ``'FAILED'`` when training stops on an error."""
    backend = mlflow_backend_of(runner)
    if backend is not None:
        backend.end(status)


def without_mlflow(cfg: Config) -> None:
    """Evaluation is not a training run: keep it out of MLflow."""
    vis = cfg.get('visualizer') or {}
    if vis.get('vis_backends'):
        vis.vis_backends = [b for b in vis.vis_backends
                            if b.get('type') != MLFLOW_BACKEND]


def continue_mlflow_run(cfg: Config, checkpoint: str) -> None:
    """Give the MLflow backend the run id stored in ``checkpoint``, so a
    resumed training logs into the same run."""
    backends = [b for b in cfg.get('visualizer', {}).get('vis_backends', [])
                if b.get('type') == MLFLOW_BACKEND]
    if not backends:
        return
    meta = torch.load(checkpoint, map_location='cpu', weights_only=True,
                      mmap=True).get('meta', {})
    if meta.get('mlflow_run_id'):
        for backend in backends:
            backend.run_id = meta['mlflow_run_id']


def _epochs_newest_first(folder: str, template: str) -> List[str]:
    pattern = re.compile('^' + re.escape(template).replace(r'\{\}', r'(\d+)')
                         + '$')
    found = [(int(m.group(1)), name) for name in os.listdir(folder)
             if (m := pattern.match(name))]
    return [osp.join(folder, name) for _, name in sorted(found, reverse=True)]


def _intact(path: str) -> Optional[str]:
    """None if ``path`` is an intact checkpoint, else why not."""
    try:
        verify_checkpoint_file(path)
    except InputError as e:
        return str(e)
    return None


def resume_checkpoint(work_dir: str) -> Tuple[Optional[str], str]:
    """The checkpoint ``--resume`` continues from, and why: the first intact
    one of ``checkpoints/latest_checkpoint.pth``, the newest full
    ``checkpoint_epoch_N.pth``, the newest lightweight one (weights only),
    then the file MMEngine's ``last_checkpoint`` names (configs with
    MMEngine's own CheckpointHook). ``(None, reason)`` when there is none."""
    folder = osp.join(work_dir, CHECKPOINT_DIR)
    candidates = []
    if osp.isdir(folder):
        candidates.append((osp.join(folder, LATEST),
                           'the full state after the last finished epoch'))
        candidates += [(p, 'the newest intact full checkpoint')
                       for p in _epochs_newest_first(folder, FULL)]
        candidates += [(p, 'the newest intact checkpoint, weights only: the '
                        'optimizer starts cold')
                       for p in _epochs_newest_first(folder, LIGHTWEIGHT)]
    mmengine_last = find_latest_checkpoint(work_dir)
    if mmengine_last and mmengine_last not in [p for p, _ in candidates]:
        candidates.append((mmengine_last, 'named by last_checkpoint'))
    skipped = []
    for path, why in candidates:
        if not osp.isfile(path):
            continue
        problem = _intact(path)
        if problem is None:
            if skipped:
                why += f'; skipped {", ".join(skipped)}'
            return path, why
        skipped.append(f'{osp.basename(path)} (not intact)')
    return None, ', '.join(skipped) or f'no checkpoint in {work_dir}'


def enable_amp(cfg: Config) -> None:
    """``--amp``: wrap the optimiser in ``Bf16AwareAmpOptimWrapper``
    (MMEngine's ``AmpOptimWrapper``; float16 with a dynamic loss scale
    unless the config names a dtype)."""
    if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper':
        cfg.optim_wrapper.type = 'Bf16AwareAmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def disable_amp(cfg: Config) -> bool:
    """Back to a float32 ``OptimWrapper``; True if AMP was on."""
    if cfg.optim_wrapper.get('type') not in AMP_WRAPPERS:
        return False
    cfg.optim_wrapper.type = 'OptimWrapper'
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
        if (cfg.optim_wrapper.get('type') in AMP_WRAPPERS
                and cfg.optim_wrapper.get('dtype') in ('bfloat16',
                                                       torch.bfloat16)
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
            type='MMDistributedDataParallel', device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))


def init_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Start the process group for a CPU run under torchrun.

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` first, which
    fails without a GPU; a process group that already exists is used as is.
    """
    import torch.distributed as dist
    if (launcher == 'pytorch' and not torch.cuda.is_available()
            and not dist.is_initialized()):
        backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get(
            'backend', 'gloo')
        dist.init_process_group(backend=backend)


def finish_distributed() -> None:
    """Wait for every rank, then close the process group.

    Left open, the group is torn down by the interpreter's exit: a rank that
    is done while another still writes its last checkpoint or MLflow run can
    abort in the backend's teardown ("terminate called without an active
    exception"), and torchrun then stops the others and reports failure.
    Call it only after a run that succeeded on every rank: a rank that
    failed never reaches the barrier.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def world_size_from_env() -> int:
    return int(os.environ.get('WORLD_SIZE', '1'))


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
    print_log(msg, logger='current')


def add_optional_hooks(cfg: Config, ema: bool = False,
                       early_stop: Optional[int] = None) -> None:
    """Turn the config's ``ema`` and ``early_stopping`` sections (or
    ``--ema`` / ``--early-stop N``) into MMDetection's ``EMAHook`` and
    MMEngine's ``EarlyStoppingHook`` in ``custom_hooks``. A config that
    lists either hook itself keeps its own."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {h.get('type') for h in hooks}
    section = cfg.get('ema') or {}
    if (ema or section.get('enable')) and 'EMAHook' not in present:
        hooks.append(dict(
            type='EMAHook', ema_type='ExpMomentumEMA',
            momentum=section.get('momentum', 0.0002),
            gamma=section.get('gamma', 2000), update_buffers=True,
            priority=49))
        print_log('EMA of the weights on: validation, checkpoints and the '
                  'exported model use the averaged weights', logger='current')
    section = dict(cfg.get('early_stopping') or {})
    if early_stop:
        section.update(enable=True, patience=early_stop)
    if section.get('enable') and 'EarlyStoppingHook' not in present:
        hooks.append(dict(
            type='EarlyStoppingHook',
            monitor=section.get('monitor', 'coco/bbox_mAP'),
            rule=section.get('rule', 'greater'),
            patience=section.get('patience', 3),
            min_delta=section.get('min_delta', 0.001)))
        print_log(f'early stopping on: {hooks[-1]["monitor"]}, patience '
                  f'{hooks[-1]["patience"]} validation rounds',
                  logger='current')
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


def exit_on_data_error(main):
    """Run ``main``; an :class:`InputError` prints one line, exits 2."""

    @wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except InputError as e:
            print(f'error: {e}', file=sys.stderr)
            sys.exit(2)

    return wrapper


def oom_advice(cfg: Config, iteration: int, error: Exception) -> str:
    """One message for CUDA out-of-memory: where, and what to turn."""
    loader = cfg.train_dataloader
    accumulation = cfg.optim_wrapper.get('accumulative_counts', 1)
    return (
        f'CUDA out of memory at iteration {iteration + 1} with batch size '
        f'{loader.batch_size} per GPU ({str(error).splitlines()[0][:160]}). '
        'Try: --cfg-options train_dataloader.batch_size='
        f'{max(1, loader.batch_size // 2)} optim_wrapper.accumulative_counts='
        f'{accumulation * 2} (same effective batch); smaller training scales '
        '(the RandomChoiceResize scales in the config); keep AMP on (--amp); '
        'fewer train_dataloader.num_workers / prefetch_factor if host RAM is '
        'the limit')
