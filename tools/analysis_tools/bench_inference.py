#!/usr/bin/env python
"""LocalDetector latency per image at given input sizes.

Images of each size are drawn by the demo generator and resized by the
model's own test pipeline (the main config resizes to 1333x800 at most).
With --ball-head-cost, a model with a ball head is also timed without it
(the same weights, the DETR alone), in alternating runs, and the ratio is
printed.
"""
import argparse
import time

import numpy as np

# the examples of --help
EPILOG = r'''Example:
    python tools/analysis_tools/bench_inference.py models/detr_trained.pth \
        --sizes 640x384 1333x800 --runs 5
    python tools/analysis_tools/bench_inference.py models/detr_trained.pth \
        --sizes 1333x750 --ball-head-cost --device cpu
'''


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='LocalDetector latency per image at given input sizes.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('model', help='exported model or checkpoint')
    parser.add_argument(
        '--sizes',
        nargs='+',
        default=['640x384', '1333x800'],
        metavar='WxH',
        help='image sizes')
    parser.add_argument(
        '--runs',
        type=int,
        default=5,
        help='timed runs per size (after one warm-up)')
    parser.add_argument('--device', help='cuda, cpu, ... (default: auto)')
    parser.add_argument(
        '--scale',
        metavar='WxH',
        help='resize images to fit WxH in the model '
        'pipeline instead of the exported one')
    parser.add_argument(
        '--ball-head-cost',
        action='store_true',
        help='also time the model without its ball head (same weights)')
    args = parser.parse_args(argv)

    from field_detr import LocalDetector
    from field_detr.datasets.demo_data import draw_scene
    detector = LocalDetector(args.model, 0.5, args.device)
    if args.scale:
        w, h = (int(v) for v in args.scale.split('x'))
        for t in detector.pipeline.transforms:
            if hasattr(t, 'scale'):
                t.scale = (w, h)
    model = detector.model
    heads = {'': getattr(model, 'ball_head', None)}
    if args.ball_head_cost and heads['']:
        heads = {'with ball head': heads[''], 'without': None}
    for size in args.sizes:
        w, h = (int(v) for v in size.split('x'))
        img, _ = draw_scene(np.random.default_rng(0), (w, h))
        times = {name: [] for name in heads}
        for run in range(args.runs + 1):  # the first is a warm-up
            for name, head in heads.items():
                model.ball_head = head
                start = time.perf_counter()
                detector.detect(img)
                if run:
                    times[name].append(time.perf_counter() - start)
        model.ball_head = heads[next(iter(heads))]
        medians = {name: np.median(t) for name, t in times.items()}
        for name, median in medians.items():
            print(f'{size}: {1000 * median:.0f} ms per image {name}'
                  f'{" " if name else ""}(median of {args.runs}, '
                  f'{detector.device})')
        if len(medians) == 2:
            print(f'{size}: with / without the ball head '
                  f'{medians["with ball head"] / medians["without"]:.3f}')


if __name__ == '__main__':
    main()
