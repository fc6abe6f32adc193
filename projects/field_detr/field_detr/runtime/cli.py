"""The command-line part every tool shares: Runner arguments, reading the
config, the out-of-memory advice."""
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config

from ..errors import InputError
from ..redaction import hide_config_credentials


def add_runner_args(parser) -> None:
    """``--cfg-options`` and the launcher arguments every Runner tool takes."""
    import argparse

    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='override config entries, e.g. train_cfg.max_epochs=10')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='job launcher; "pytorch" under torchrun')
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=0,
        help=argparse.SUPPRESS)


def parse_runner_args(parser, argv=None):
    """Parse, and export ``LOCAL_RANK`` for launchers that pass it as an
    argument."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file and apply ``--cfg-options``; a password in a
    tracking URI is taken out of it before anything logs or dumps it
    (:func:`~field_detr.redaction.hide_config_credentials`)."""
    if not osp.isfile(path):
        raise InputError(f'{path}: config file not found')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    hide_config_credentials(cfg)
    return cfg


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
