#!/usr/bin/env python
"""Ball found by centre distance, with and without sliced inference, and
the latency each costs per frame.

Runs the model on every image of a COCO split (optionally resized first,
e.g. to 3840x2160 to stand for 4K broadcast frames; the ground truth is
scaled with it), once on the full frame and once sliced, and prints ball
recall / precision / F1 at each distance, the false-ball rate and the mean
latency per frame.
"""
import argparse
import json
import os.path as osp
import time

import cv2
import numpy as np

# the examples of --help
EPILOG = r'''Example:
    python tools/analysis_tools/eval_sliced_ball.py models/detr_trained.pth \
        datasets/val --resize 3840x2160 --slice 1280x720 --overlap 0.2
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Ball found by centre distance, with and without sliced '
        'inference, and the latency each costs per frame.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('model', help='exported model or training checkpoint')
    parser.add_argument(
        'split',
        help='split folder (images/ + '
        'annotations/annotations.json)')
    parser.add_argument(
        '--slice',
        default='1280x720',
        metavar='WxH',
        help='tile size (default 1280x720)')
    parser.add_argument(
        '--overlap',
        type=float,
        default=0.2,
        help='tile overlap ratio (default 0.2)')
    parser.add_argument(
        '--resize',
        metavar='WxH',
        help='resize every frame (and its boxes) first')
    parser.add_argument(
        '--threshold',
        type=float,
        default=0.5,
        help='confidence threshold (default 0.5)')
    parser.add_argument(
        '--distances',
        type=float,
        nargs='+',
        default=[5, 10, 20],
        help='k of recall@k, pixels')
    parser.add_argument('--ball-class', default='ball')
    parser.add_argument('--limit', type=int, help='first N images only')
    parser.add_argument('--device', help='cuda, cpu, ... (default: auto)')
    parser.add_argument('--out', metavar='JSON', help='write the figures')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from field_detr import LocalDetector
    from field_detr.datasets.validation import load_coco_split, split_paths
    from field_detr.evaluation.ball_metrics import ball_localisation
    from field_detr.inference.slicing import parse_tile, slicing_settings

    detector = LocalDetector(args.model, args.threshold, args.device)
    slicing = slicing_settings(
        dict(tile=parse_tile(args.slice), overlap=args.overlap))
    ann_file, img_dir = split_paths(args.split)
    split = load_coco_split(ann_file, img_dir, classes=detector.classes)
    ball = detector.classes.index(args.ball_class)
    images = split.images[:args.limit] if args.limit else split.images

    frames = {'full frame': [], f'sliced {args.slice}': []}
    seconds = {name: 0.0 for name in frames}
    for record in images:
        img = cv2.imread(osp.join(img_dir, record['file_name']))
        sx = sy = 1.0
        if args.resize:
            w, h = parse_tile(args.resize)
            sx, sy = w / img.shape[1], h / img.shape[0]
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        gts = np.array([[x * sx, y * sy, (x + bw) * sx, (y + bh) * sy]
                        for x, y, bw, bh in (
                            a['bbox']
                            for a in split.anns_by_image.get(record['id'], [])
                            if a['label'] == ball)]).reshape(-1, 4)
        for name, option in zip(frames, ({}, slicing)):
            start = time.perf_counter()
            det = detector.detect(img, slicing=option)
            seconds[name] += time.perf_counter() - start
            keep = det.labels == ball
            frames[name].append((gts, det.boxes[keep], det.scores[keep]))

    size = args.resize or 'original size'
    print(f'{len(images)} frames of {args.split} ({size}), threshold '
          f'{args.threshold}, {args.ball_class} found by centre distance, '
          f'on {detector.device}')
    header = ''.join(f'{f"R@{k:g}px":>9}' for k in args.distances)
    print(f'{"":22}{header}{"P@10px":>9}{"F1@10px":>9}{"false":>8}'
          f'{"ms/frame":>10}')
    results = {}
    for name, data in frames.items():
        scores = ball_localisation(
            data, args.distances, prefix=args.ball_class)
        scores['ms_per_frame'] = 1000 * seconds[name] / max(1, len(images))
        results[name] = scores

        def get(key, scores=scores):
            return scores.get(f'{args.ball_class}_{key}', float('nan'))

        print(f'{name:22}' + ''.join(f'{get(f"recall_{k:g}px"):9.3f}'
                                     for k in args.distances) +
              f'{get("precision_10px"):9.3f}{get("f1_10px"):9.3f}'
              f'{get("false_rate"):8.3f}{scores["ms_per_frame"]:10.0f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
