#!/usr/bin/env python
"""Ball benchmark: the same model with and without its ball head, trained
for the same budget on generated broadcast-like frames, scored on its
training frames and on held-out frames drawn from another seed.

For each variant it trains in-process (no tracking run), then prints player
AP@0.5, ball AP@0.5, ball recall / precision / F1 at 5 and 10 px (centre
distance, detections at --threshold), the false-ball rate on frames without
a ball, and the milliseconds per frame of LocalDetector on the CPU.
"""
import argparse
import json
import math
import os
import os.path as osp
import time

HELD_OUT_SEED_OFFSET = 1000

# the examples of --help
EPILOG = r'''Example (the learning test's model and budget, about 10 minutes a variant
on 2 cores):
    python tools/analysis_tools/eval_ball_head.py \
        --config tests/configs/detr_tiny_sanity.py --iters 1000
'''


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Ball benchmark: a model with and without its ball head '
        'on generated frames, training and held-out.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument(
        '--config',
        default='tests/configs/detr_tiny_sanity.py',
        help='a config with model.ball_head (default: the learning test\'s '
        'small DETR)')
    parser.add_argument(
        '--iters',
        type=int,
        default=1000,
        help='training iterations per variant (default 1000)')
    parser.add_argument(
        '--batch-size', type=int, help='default: the config\'s')
    parser.add_argument(
        '--train-images',
        type=int,
        default=4,
        help='generated training frames (default 4)')
    parser.add_argument(
        '--held-out-images',
        type=int,
        default=24,
        help='generated held-out frames (default 24)')
    parser.add_argument(
        '--size',
        default='640x384',
        metavar='WxH',
        help='generated frame size (default 640x384)')
    parser.add_argument(
        '--seed',
        type=int,
        default=7,
        help='training frames\' seed; the held-out frames use seed + '
        f'{HELD_OUT_SEED_OFFSET} (default 7)')
    parser.add_argument(
        '--held-out-seeds',
        type=int,
        nargs='+',
        help='held-out splits, one per seed (default: seed + '
        f'{HELD_OUT_SEED_OFFSET})')
    parser.add_argument(
        '--hard-balls',
        action='store_true',
        help='draw hard balls in every split: smaller, grey, motion-streaked, '
        'a third partly under a leg')
    parser.add_argument(
        '--variants',
        nargs='+',
        default=['head', 'no-head'],
        choices=['head', 'no-head'],
        help='which models to train (default both)')
    parser.add_argument(
        '--threshold',
        default='0.5',
        help='confidence of a ball detection for the centre-distance '
        'scores (default 0.5); "auto": the score with the best F1 at 5 px '
        'on the first held-out split, applied to every split (the model '
        'stores such a threshold, chosen on its validation frames)')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/eval_ball_head',
        help='frames, checkpoints and logs (default work_dirs/eval_ball_head)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='config overrides applied to every variant')
    parser.add_argument('--out', metavar='JSON', help='write the figures')
    return parser.parse_args(argv)


def training_config(args, variant: str, train_dir: str, work_dir: str):
    """The config trained for ``variant``: ``--iters`` iterations on the
    generated frames, no validation, no tracking run, one checkpoint."""
    from field_detr import runtime
    cfg = runtime.load_config(args.config, args.cfg_options)
    if variant == 'no-head' and 'ball_head' in cfg.model:
        cfg.model.ball_head = None  # (a DINO config has none to remove)
    if args.batch_size:
        cfg.train_dataloader.batch_size = args.batch_size
    batch = cfg.train_dataloader.batch_size
    per_epoch = math.ceil(args.train_images / batch)
    epochs = max(1, round(args.iters / per_epoch))
    old_epochs = cfg.train_cfg.max_epochs
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs + 1
    # the epoch-based schedule stretched to the new length, its shape kept
    # (warm-up share, cosine period); iteration-based ones stay
    for sched in cfg.param_scheduler:
        if sched.get('by_epoch', True):
            for key in ('begin', 'end', 'T_max'):
                if key in sched:
                    sched[key] = round(sched[key] * epochs / old_epochs)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs)
    cfg.default_hooks.logger.interval = 50
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h['type'] not in ('MLflowRunHook', 'CocoTransplantHook')
    ]
    runtime.without_mlflow(cfg)
    runtime.set_split(cfg, 'train', train_dir)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.work_dir = work_dir
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        cfg[loader].pop('prefetch_factor', None)
    runtime.apply_device_fallbacks(cfg)
    return cfg, epochs * per_epoch


def evaluate(cfg, checkpoint: str, split: str, threshold: float) -> dict:
    """tools/test.py's figures for ``split``, in-process."""
    from mmengine.runner import Runner

    from field_detr import runtime
    cfg = cfg.copy()
    runtime.set_split(cfg, 'test', split)
    cfg.test_evaluator.ball_score_thr = threshold
    cfg.load_from = checkpoint
    cfg.train_dataloader = cfg.optim_wrapper = cfg.train_cfg = None
    cfg.param_scheduler = None
    cfg.work_dir = osp.join(cfg.work_dir, 'test_' + osp.basename(split))
    runner = Runner.from_cfg(cfg)
    return runner.test()


def chosen_threshold(threshold: str, cfg, checkpoint: str, split) -> float:
    """``--threshold`` as a number; for ``auto``, the metric's best-F1
    score threshold on ``split`` (``(folder, frames, seed)``)."""
    if threshold != 'auto':
        return float(threshold)
    return float(
        evaluate(cfg, checkpoint, split[0], 0.5)['coco/ball_best_thr'])


def ms_per_frame(cfg, checkpoint: str, split: str) -> float:
    """LocalDetector's mean latency over the split's frames (after one
    warm-up frame), on the CPU."""
    import glob

    import cv2

    from field_detr import LocalDetector
    path = osp.join(cfg.work_dir, 'bench_config.py')
    cfg.dump(path)
    detector = LocalDetector(checkpoint, 0.5, 'cpu', config=path)
    frames = [
        cv2.imread(f)
        for f in sorted(glob.glob(osp.join(split, 'images', '*.jpg')))
    ]
    detector.detect(frames[0])
    start = time.perf_counter()
    for frame in frames:
        detector.detect(frame)
    return 1000 * (time.perf_counter() - start) / len(frames)


ROWS = (('player AP@0.5', 'coco/player_mAP_50'), ('ball AP@0.5',
                                                  'coco/ball_mAP_50'),
        ('ball recall@5px',
         'coco/ball_recall_5px'), ('ball precision@5px',
                                   'coco/ball_precision_5px'),
        ('ball F1@5px', 'coco/ball_f1_5px'), ('ball recall@10px',
                                              'coco/ball_recall_10px'),
        ('ball precision@10px',
         'coco/ball_precision_10px'), ('ball F1@10px', 'coco/ball_f1_10px'),
        ('false-ball rate', 'coco/ball_false_rate'), ('best threshold here',
                                                      'coco/ball_best_thr'),
        ('best F1@5px here', 'coco/ball_best_f1_5px'), ('ms per frame',
                                                        'ms_per_frame'))


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault('FIELD_DETR_COCO_START', '0')
    import torch
    from mmengine.runner import Runner

    from field_detr.datasets.demo_data import write_split
    w, h = (int(v) for v in args.size.split('x'))
    data = osp.join(args.work_dir, 'data')
    held_out_seeds = args.held_out_seeds or [args.seed + HELD_OUT_SEED_OFFSET]
    splits = dict(
        train=(osp.join(data, 'train'), args.train_images, args.seed))
    for seed in held_out_seeds:
        splits[f'held-out {seed}'] = (osp.join(data, f'held_out_{seed}'),
                                      args.held_out_images, seed)
    for name, (split_dir, num, seed) in splits.items():
        # every 10th held-out frame has no ball at all (the false-ball rate)
        write_split(
            split_dir,
            num,
            seed,
            size=(w, h),
            empty_every=0 if name == 'train' else 10,
            hard_balls=args.hard_balls)

    results = {}
    for variant in args.variants:
        torch.manual_seed(0)
        work_dir = osp.join(args.work_dir, variant)
        cfg, iters = training_config(args, variant, splits['train'][0],
                                     work_dir)
        start = time.perf_counter()
        runner = Runner.from_cfg(cfg)
        runner.train()
        train_s = time.perf_counter() - start
        checkpoint = osp.join(work_dir,
                              f'epoch_{cfg.train_cfg.max_epochs}.pth')
        results[variant] = dict(iterations=iters, train_s=train_s)
        threshold = chosen_threshold(args.threshold, cfg, checkpoint,
                                     splits[f'held-out {held_out_seeds[0]}'])
        results[variant]['threshold'] = threshold
        for name, (split_dir, _, _) in splits.items():
            metrics = evaluate(cfg, checkpoint, split_dir, threshold)
            metrics['ms_per_frame'] = ms_per_frame(cfg, checkpoint, split_dir)
            results[variant][name] = {
                k: float(v)
                for k, v in metrics.items() if isinstance(v, (int, float))
            }

    thresholds = ', '.join(f'{results[v]["threshold"]:g}' for v in results)
    if args.threshold == 'auto':
        thresholds += f' (chosen on held-out {held_out_seeds[0]})'
    print(f'\nball benchmark: {args.config}, {iters} iterations, '
          f'{args.train_images} training frames (seed {args.seed}), '
          f'{args.held_out_images} held-out frames per seed, {args.size}, '
          f'threshold {thresholds}'
          f'{", hard balls" if args.hard_balls else ""}')
    columns = [(v, s) for v in results for s in splits]
    print(f'{"":22}' + ''.join(f'{v:>18}' for v, _ in columns))
    print(f'{"":22}' + ''.join(f'{s:>18}' for _, s in columns))
    for label, key in ROWS:
        cells = []
        for v, s in columns:
            value = results[v][s].get(key, float('nan'))
            cells.append(f'{value:18.1f}' if key ==
                         'ms_per_frame' else f'{value:18.3f}')
        print(f'{label:22}' + ''.join(cells))
    print(f'{"training (s)":22}' + ''.join(f'{results[v]["train_s"]:18.0f}'
                                           for v, _ in columns))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
