#!/usr/bin/env python
"""Evaluate a checkpoint: COCO box mAP, mAP@0.5 and mAP@0.75, overall and
per class, then the ball: AP by size bin and recall / precision / F1 by
centre distance.
"""
import argparse
import os
import os.path as osp
import shutil
import tempfile

from mmengine.runner import Runner

from field_detr import runtime
from field_detr.checkpoint.files import verify_checkpoint_file
from field_detr.evaluation.ball_metrics import format_ball_report
from field_detr.evaluation.metric import format_report, write_metrics

# the examples of --help
EPILOG = r'''Examples:
    python tools/test.py configs/detr_r50_field.py work_dirs/detr_r50_field/checkpoints/best_model.pth
    python tools/test.py CONFIG CKPT --test-dir datasets/test --out results.json
    python tools/test.py CONFIG CKPT --out-metrics metrics.json
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate a checkpoint with COCO mAP.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument(
        'config', help='config file the model was trained '
        'with')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--test-dir',
        help='split folder to evaluate (images/ + '
        'annotations/annotations.json); default: the config\'s validation '
        'split, datasets/val')
    parser.add_argument(
        '--work-dir',
        help='where the test log goes; '
        'default work_dirs/<config name>')
    parser.add_argument(
        '--out',
        metavar='RESULTS.json',
        help='write the detections as COCO results JSON, with the '
        'dataset\'s own category ids')
    parser.add_argument(
        '--out-metrics',
        metavar='METRICS.json',
        help='write every figure of both tables (and the others the metric '
        'computes) to this JSON file')
    runtime.add_runner_args(parser)
    return runtime.parse_runner_args(parser, argv)


@runtime.exit_on_error
def main(argv=None):
    args = parse_args(argv)
    verify_checkpoint_file(args.checkpoint)
    cfg = runtime.load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    runtime.set_split(cfg, 'test', args.test_dir)
    runtime.check_splits(cfg, ('test', ))
    runtime.set_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    runtime.without_mlflow(cfg)
    runtime.normalise_dataloaders(cfg)
    runtime.apply_device_fallbacks(cfg, args.launcher)
    runtime.init_distributed(cfg, args.launcher)
    tmp_dir = None
    if args.out:
        tmp_dir = tempfile.mkdtemp()
        cfg.test_evaluator.outfile_prefix = osp.join(tmp_dir, 'results')

    runner = Runner.from_cfg(cfg)
    metrics = runner.test()

    if runner.rank == 0:
        split = cfg.test_dataloader.dataset.data_root
        print(
            format_report(
                metrics,
                runner.test_dataloader.dataset.metainfo['classes'],
                title=f'COCO box AP on {split}'))
        evaluator = runner.test_evaluator.metrics[0]
        ball = getattr(evaluator, 'ball_class', None)
        if ball and f'coco/{ball}_count' in metrics:
            print()
            print(
                format_ball_report(metrics, ball, evaluator.size_bins,
                                   evaluator.ball_distances))
        if args.out_metrics:
            write_metrics(args.out_metrics, metrics)
            print(f'metrics written to {args.out_metrics}')
        if args.out:
            os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
            shutil.move(osp.join(tmp_dir, 'results.bbox.json'), args.out)
            print(f'detections written to {args.out}')
    if tmp_dir:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    runtime.finish_distributed()
    return metrics


if __name__ == '__main__':
    main()
