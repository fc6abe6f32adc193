#!/usr/bin/env python
"""LocalDetector latency per image at given input sizes.

Images of each size are drawn by the demo generator and resized by the
model's own test pipeline (the main config resizes to 1333x800 at most).

Example:
    python tools/analysis_tools/bench_inference.py models/detr_trained.pth \\
        --sizes 640x384 1333x800 --runs 5
"""
import argparse
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
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
    args = parser.parse_args(argv)

    from field_detr import LocalDetector
    from field_detr.demo_data import draw_scene
    detector = LocalDetector(args.model, 0.5, args.device)
    if args.scale:
        w, h = (int(v) for v in args.scale.split('x'))
        for t in detector.pipeline.transforms:
            if hasattr(t, 'scale'):
                t.scale = (w, h)
    for size in args.sizes:
        w, h = (int(v) for v in size.split('x'))
        img, _ = draw_scene(np.random.default_rng(0), (w, h))
        detector.detect(img)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            detector.detect(img)
            times.append(time.perf_counter() - start)
        print(f'{size}: {1000 * np.median(times):.0f} ms per image '
              f'(median of {args.runs}, {detector.device})')


if __name__ == '__main__':
    main()
