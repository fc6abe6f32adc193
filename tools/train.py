#!/usr/bin/env python
"""Train a field_detr config with MMEngine's Runner."""
import argparse

import torch
from mmengine.runner import Runner

from field_detr import runtime
from field_detr.errors import EXIT_PREEMPTED, Preempted, TrainingStopped

# the examples of --help
EPILOG = r'''Examples:
    python tools/train.py configs/detr_r50_field.py
    python tools/train.py configs/detr_r50_field_demo.py --work-dir work_dirs/demo
    python tools/train.py configs/detr_r50_field.py --resume            # newest checkpoint
    python tools/train.py configs/detr_r50_field.py --resume work_dirs/x/checkpoints/checkpoint_epoch_10.pth
    python tools/train.py configs/detr_r50_field.py --ema --early-stop 3
    python tools/train.py configs/detr_r50_field.py --resume auto       # newest checkpoint, else a new run
    python tools/train.py configs/dino_small_field.py --epochs 80      # the cosine stretched to 80
    bash tools/dist_train.sh configs/detr_r50_field.py 4 --auto-scale-lr   # torchrun, 4 GPUs
    bash tools/slurm_train.sh PARTITION detr configs/detr_r50_field.py work_dirs/detr  # sbatch, requeued

SIGTERM or SIGUSR1 stops training at the end of the optimiser step with a
checkpoint (exit status 75); --resume continues at the next batch.
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train DETR on a player/ball COCO dataset.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('config', help='training config file')
    parser.add_argument(
        '--train-dir',
        help='training split folder (images/ + '
        'annotations/annotations.json); default: the config\'s, '
        'datasets/train')
    parser.add_argument(
        '--val-dir',
        help='validation split folder; default: the '
        'config\'s, datasets/val')
    parser.add_argument(
        '--work-dir',
        help='where logs and checkpoints go; default '
        'work_dirs/<config name>')
    parser.add_argument(
        '--epochs',
        type=int,
        metavar='N',
        help='train N epochs: the warm-up + cosine schedule is stretched '
        'to them (the same as --cfg-options train_cfg.max_epochs=N)')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='newest',
        default=None,
        metavar='CKPT',
        help='continue training: alone, from the newest intact checkpoint '
        'in the work dir (refused where there is none); "auto", from it or '
        'as a new run where the work dir holds none (jobs that restart); '
        'with a path, from that checkpoint')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision training (the main config already has it)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate linearly with the effective batch '
        '(processes x batch size x accumulation) against the config\'s '
        'auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--ema',
        action='store_true',
        help='keep an exponential moving average of the weights (mmdet\'s '
        'EMAHook); validation, checkpoints and export use it (the config\'s '
        'ema section sets the momentum)')
    parser.add_argument(
        '--early-stop',
        type=int,
        metavar='PATIENCE',
        help='stop when the config\'s early_stopping.monitor (default '
        'coco/bbox_mAP) has not improved for PATIENCE validation rounds')
    runtime.add_runner_args(parser)
    return runtime.parse_runner_args(parser, argv)


@runtime.exit_on_error
def main(argv=None):
    args = parse_args(argv)
    cfg = runtime.load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    runtime.set_split(cfg, 'train', args.train_dir)
    runtime.set_split(cfg, 'val', args.val_dir)
    runtime.set_work_dir(cfg, args.config, args.work_dir)
    runtime.set_epochs(cfg, args.epochs)
    runtime.check_schedule(cfg)
    runtime.set_resume(cfg, runtime.restarted_resume(args.resume))
    runtime.verify_start_checkpoints(cfg)
    # a refused split stops here: no work dir, no tracking run
    runtime.check_splits(cfg, ('train', 'val'))
    if args.amp:
        runtime.enable_amp(cfg)
    runtime.add_optional_hooks(cfg, args.ema, args.early_stop)
    runtime.normalise_dataloaders(cfg)
    runtime.apply_device_fallbacks(cfg, args.launcher)
    runtime.apply_lr_scaling(cfg, args.auto_scale_lr,
                             runtime.world_size_from_env())
    runtime.init_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    except Preempted:
        # every rank stopped at the same step, the checkpoint is written
        runtime.end_tracking(runner, 'KILLED')
        runtime.finish_distributed(EXIT_PREEMPTED)
        raise
    except BaseException as e:
        runtime.end_tracking(
            runner, 'KILLED' if isinstance(e, KeyboardInterrupt) else 'FAILED')
        if isinstance(e, torch.cuda.OutOfMemoryError):
            raise TrainingStopped(runtime.oom_advice(cfg, runner.iter,
                                                     e)) from None
        raise
    finally:
        runtime.release_signals(runner)
    runtime.finish_distributed(0)


if __name__ == '__main__':
    main()
