#!/usr/bin/env python
"""Time COCO box evaluation with pycocotools and with faster-coco-eval on the
same results, and check that they agree.

Without arguments it draws a validation-sized case: 1,000 images with 12
boxes each and 100 detections per image (DETR's output). With RESULTS and
ANN_FILE it times your own files (tools/test.py --out).
"""
import argparse
import copy
import json
import time

import numpy as np

from field_detr.evaluation.metric import (EVAL_BACKENDS, coco_api,
                                          evaluate_detections)

# the examples of --help
EPILOG = r'''Examples:
    python tools/analysis_tools/bench_coco_eval.py
    python tools/analysis_tools/bench_coco_eval.py results.json datasets/val/annotations/annotations.json
'''


def synthetic_case(num_images=1000,
                   boxes_per_image=12,
                   dets_per_image=100,
                   seed=0):
    """Ground truth and DETR-like detections (most near-misses, the rest
    background), 1280x720 images."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for i in range(1, num_images + 1):
        images.append(
            dict(id=i, file_name=f'{i:06d}.jpg', width=1280, height=720))
        for _ in range(boxes_per_image):
            w, h = rng.uniform(8, 60), rng.uniform(8, 110)
            x, y = rng.uniform(0, 1280 - w), rng.uniform(0, 720 - h)
            cat = int(rng.integers(1, 3))
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=i,
                    category_id=cat,
                    bbox=[x, y, w, h],
                    area=w * h,
                    iscrowd=0))
            jitter = rng.normal(0, 0.1, 4) * [w, h, w, h]
            dets.append(
                dict(
                    image_id=i,
                    category_id=cat,
                    bbox=[
                        x + jitter[0], y + jitter[1],
                        abs(w + jitter[2]) + 1,
                        abs(h + jitter[3]) + 1
                    ],
                    score=float(rng.uniform(0.3, 1.0))))
        for _ in range(dets_per_image - boxes_per_image):
            dets.append(
                dict(
                    image_id=i,
                    category_id=int(rng.integers(1, 3)),
                    bbox=[
                        float(rng.uniform(0, 1200)),
                        float(rng.uniform(0, 600)), 30.0, 60.0
                    ],
                    score=float(rng.uniform(0, 0.5))))
    gt = dict(
        images=images,
        annotations=anns,
        categories=[dict(id=1, name='player'),
                    dict(id=2, name='ball')])
    return gt, dets


def time_backend(gt: dict, dets: list, backend: str, repeats: int):
    """Median seconds of index + loadRes + evaluate + accumulate."""
    times, ev = [], None
    cat_ids = [c['id'] for c in gt['categories']]
    for _ in range(repeats):
        g, d = copy.deepcopy(gt), copy.deepcopy(dets)
        start = time.perf_counter()
        ev = evaluate_detections(
            coco_api(g, backend), d, cat_ids, backend=backend)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), ev


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Time COCO box evaluation with pycocotools and with '
        'faster-coco-eval on the same results, and check that they agree.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('results', nargs='?', help='COCO results JSON')
    parser.add_argument('ann_file', nargs='?', help='annotations.json')
    parser.add_argument(
        '--images',
        type=int,
        default=1000,
        help='synthetic case size (default 1000)')
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args(argv)
    if args.results:
        from field_detr.datasets.validation import load_coco_split
        gt = load_coco_split(args.ann_file, check_images=False).to_coco_dict()
        with open(args.results) as f:
            dets = json.load(f)
    else:
        gt, dets = synthetic_case(args.images)
    print(f'{len(gt["images"])} images, {len(gt["annotations"])} boxes, '
          f'{len(dets)} detections')
    out = {}
    for backend in EVAL_BACKENDS:
        seconds, ev = time_backend(gt, dets, backend, args.repeats)
        out[backend] = (seconds, ev)
        print(f'{backend:>17}: {seconds:.2f} s  mAP {ev.stats[0]:.6f}  '
              f'mAP@0.5 {ev.stats[1]:.6f}  mAP@0.75 {ev.stats[2]:.6f}')
    (t_ref, ref), (t_fast, fast) = out['pycocotools'], out['faster_coco_eval']
    stats_diff = float(np.abs(ref.stats - fast.stats).max())
    prec_diff = float(
        np.abs(ref.eval['precision'] - fast.eval['precision']).max())
    print(f'speed-up {t_ref / t_fast:.2f}x; largest difference: stats '
          f'{stats_diff:.1e}, precision {prec_diff:.1e}')
    return dict(
        speedup=t_ref / t_fast,
        stats_diff=stats_diff,
        precision_diff=prec_diff)


if __name__ == '__main__':
    main()
