#!/usr/bin/env python
"""Soak run: a long training of a small model, watched for leaks.

It trains a config (default: the tests' small DETR) for --epochs epochs on
generated frames, validating every --val-interval epochs and tracking into
an MLflow store of its own, and samples after every epoch: the memory of
the training process and its data-loader workers (RSS), their open file
descriptors, and the work dir's size and checkpoint files. At the end it
reads the run's metric histories back from MLflow and prints:

* RAM after warm-up (the epoch after the first validation, whose data
  loader's workers then persist) and at the end: growth <= 5 %;
* open file descriptors after warm-up: flat (max - min <= 2);
* the work dir: the checkpoint files the retention settings allow
  (keep_lightweight lightweight ones, one full every full_interval epochs,
  latest and best) and nothing else growing;
* MLflow: one train_loss per iteration and one val_map per validation.

Exit status 1 if a check fails.
"""
import argparse
import glob
import json
import os
import os.path as osp
import time

# the examples of --help
EPILOG = r'''Examples:
    python tools/analysis_tools/soak.py                        # 300 epochs of the small DETR, about 20 minutes on 2 cores
    python tools/analysis_tools/soak.py --epochs 30 --val-interval 5
'''

SMALL_CONFIG = 'configs/detr_small_field.py'


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Soak run: a long training of a small model, watched '
        'for memory, file descriptor, disk and tracking leaks.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument(
        '--config',
        default=SMALL_CONFIG,
        help=f'the config to train (default {SMALL_CONFIG})')
    parser.add_argument('--epochs', type=int, default=300, help='default 300')
    parser.add_argument(
        '--val-interval',
        type=int,
        default=10,
        help='epochs between validations (default 10)')
    parser.add_argument(
        '--full-interval',
        type=int,
        default=50,
        help='epochs between full checkpoints (default 50: the small '
        'config\'s 2 would write 150 of them)')
    parser.add_argument(
        '--images',
        type=int,
        default=6,
        help='generated training frames (default 6; 4 for validation)')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/soak',
        help='frames, the run and its MLflow store (emptied first)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='config overrides')
    parser.add_argument('--out', metavar='JSON', help='write the samples')
    return parser.parse_args(argv)


def _children(pid: int) -> list:
    """The processes whose parent is ``pid`` (the data-loader workers)."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f'/proc/{pid}/fd'))
    except OSError:
        return 0


def _dir_mb(path: str) -> float:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += osp.getsize(osp.join(folder, name))
            except OSError:
                pass
    return total / 1e6


def probe_hook(work_dir: str, samples: list):
    """A hook that appends one sample after every training epoch."""
    from mmengine.hooks import Hook

    from field_detr.hooks.memory_hook import process_rss_mb

    class SoakProbe(Hook):
        priority = 'LOWEST'

        def after_train_epoch(self, runner) -> None:
            pid = os.getpid()
            workers = _children(pid)
            ckpt_dir = osp.join(work_dir, 'checkpoints')
            samples.append(
                dict(
                    epoch=runner.epoch + 1,
                    rss_mb=process_rss_mb() +
                    sum(process_rss_mb(w) for w in workers),
                    workers=len(workers),
                    fds=_fds(pid) + sum(_fds(w) for w in workers),
                    work_dir_mb=_dir_mb(work_dir),
                    checkpoints=sorted(
                        osp.basename(p)
                        for p in glob.glob(osp.join(ckpt_dir, '*.pth')))))

    return SoakProbe()


def expected_checkpoints(epochs: int, full_interval: int,
                         keep_lightweight: int) -> set:
    names = {'latest_checkpoint.pth', 'best_model.pth'}
    names |= {  # full: every full_interval epochs and at the end
        f'checkpoint_epoch_{e}.pth'
        for e in [*range(full_interval, epochs + 1, full_interval), epochs]
    }
    lightweight = list(range(1, epochs + 1))  # one every epoch
    if keep_lightweight >= 0:
        lightweight = lightweight[len(lightweight) - keep_lightweight:] \
            if keep_lightweight else []
    names |= {f'checkpoint_epoch_{e}_lightweight.pth' for e in lightweight}
    return names


def soak_config(args, work_root: str, train_dir: str, val_dir: str):
    """The config soaked: ``--epochs`` on the generated splits, every loss
    logged, no download."""
    from field_detr import runtime
    cfg = runtime.load_config(args.config, args.cfg_options)
    runtime.set_split(cfg, 'train', train_dir)
    runtime.set_split(cfg, 'val', val_dir)
    runtime.check_splits(cfg)
    cfg.work_dir = osp.join(work_root, 'run')
    cfg.train_cfg.max_epochs = args.epochs
    cfg.train_cfg.val_interval = args.val_interval
    cfg.default_hooks.logger.interval = 1  # every loss reaches MLflow
    cfg.default_hooks.checkpoint.full_interval = args.full_interval
    runtime.check_schedule(cfg)  # the cosine follows max_epochs
    runtime.normalise_dataloaders(cfg)
    runtime.apply_device_fallbacks(cfg)
    return cfg


def checks_of(args, samples, layout, iterations, run, losses, maps):
    """``(text, ok)`` of each thing the soak checks, and the checkpoint
    files expected at the end."""
    # warm: after the first validation started its data-loader workers
    warm = next(s for s in samples if s['epoch'] > args.val_interval)
    after = [s for s in samples if s['epoch'] >= warm['epoch']]
    end = samples[-1]
    growth = 100 * (end['rss_mb'] - warm['rss_mb']) / warm['rss_mb']
    fds = [s['fds'] for s in after]
    expected = expected_checkpoints(args.epochs, layout.full_interval,
                                    layout.keep_lightweight)
    wanted_losses = list(range(1, iterations + 1))
    return [
        (f'RAM after warm-up (epoch {warm["epoch"]}) '
         f'{warm["rss_mb"]:.0f} MB, at the end {end["rss_mb"]:.0f} MB: '
         f'{growth:+.1f} % (<= 5 %)', growth <= 5),
        (f'open file descriptors after warm-up: {min(fds)}-{max(fds)} '
         '(flat: within 2)', max(fds) - min(fds) <= 2),
        (f'checkpoints at the end: {len(end["checkpoints"])} files, as '
         f'full_interval={layout.full_interval} and keep_lightweight='
         f'{layout.keep_lightweight} allow',
         set(end['checkpoints']) == expected),
        (f'MLflow: {len(losses)} train_loss values for {iterations} '
         f'iterations, {len(maps)} val_map for '
         f'{args.epochs // args.val_interval} validations, run '
         f'{run.info.status}', sorted(m.step for m in losses) == wanted_losses
         and len(maps) == args.epochs // args.val_interval
         and run.info.status == 'FINISHED'),
    ], expected


def main(argv=None):
    args = parse_args(argv)
    import shutil

    from mlflow import MlflowClient
    from mmengine.runner import Runner

    from field_detr.checkpoint import CheckpointLayoutHook
    from field_detr.datasets.demo_data import make_demo_dataset

    work_root = osp.abspath(args.work_dir)
    shutil.rmtree(work_root, ignore_errors=True)
    train_dir, val_dir = make_demo_dataset(
        osp.join(work_root, 'data'),
        splits=(('train', args.images, 0), ('val', 4, 1)))
    store = f'sqlite:///{work_root}/mlruns/mlflow.db'
    os.environ['MLFLOW_TRACKING_URI'] = store
    os.environ.setdefault('FIELD_DETR_COCO_START', '0')
    cfg = soak_config(args, work_root, train_dir, val_dir)

    samples = []
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(probe_hook(cfg.work_dir, samples))
    runner.train()
    seconds = time.perf_counter() - start

    layout = next(
        h for h in runner.hooks if isinstance(h, CheckpointLayoutHook))
    iterations = runner.iter
    client = MlflowClient(store)
    exp = client.get_experiment_by_name(
        os.environ.get('MLFLOW_EXPERIMENT_NAME', 'detr_training'))
    (run, ) = client.search_runs([exp.experiment_id])
    losses = client.get_metric_history(run.info.run_id, 'train_loss')
    maps = client.get_metric_history(run.info.run_id, 'val_map')
    checks, expected = checks_of(args, samples, layout, iterations, run,
                                 losses, maps)
    end = samples[-1]
    print(f'\nsoak: {args.config}, {args.epochs} epochs ({iterations} '
          f'iterations), validation every {args.val_interval}, '
          f'{seconds / 60:.1f} min')
    print(f'{"epoch":>6} {"RSS MB":>8} {"fds":>5} {"work dir MB":>12} '
          f'{"checkpoints":>12}')
    step = max(1, len(samples) // 10)
    for s in samples[::step] + ([end] if samples[::step][-1] != end else []):
        print(f'{s["epoch"]:>6} {s["rss_mb"]:>8.0f} {s["fds"]:>5} '
              f'{s["work_dir_mb"]:>12.1f} {len(s["checkpoints"]):>12}')
    failed = False
    for text, ok in checks:
        print(f'{"ok  " if ok else "FAIL"} {text}')
        failed |= not ok
    if not set(end['checkpoints']) == expected:
        print('  unexpected:', sorted(set(end['checkpoints']) - expected),
              'missing:', sorted(expected - set(end['checkpoints'])))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(samples=samples, seconds=seconds), f, indent=1)
    if failed:
        raise SystemExit(1)


if __name__ == '__main__':
    main()
