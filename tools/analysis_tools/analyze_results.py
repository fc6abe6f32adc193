#!/usr/bin/env python
"""Per-class precision-recall curves and a confusion matrix (PNG, with the
numbers as JSON beside them) from a tools/test.py --out results file.
"""
import argparse
import json
import os
import os.path as osp

from field_detr import runtime
from field_detr.evaluation.analysis import (confusion_matrix,
                                            plot_confusion_matrix,
                                            plot_pr_curves, pr_curves)

# the examples of --help
EPILOG = r'''Example:
    python tools/test.py CONFIG CKPT --out results.json
    python tools/analysis_tools/analyze_results.py results.json \
        datasets/val/annotations/annotations.json --out-dir work_dirs/analysis
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='PR curves and confusion matrix of detection results.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('results', help='COCO results JSON (test.py --out)')
    parser.add_argument('ann_file', help='the split\'s annotations.json')
    parser.add_argument('--out-dir', default='work_dirs/analysis')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.5,
        help='confusion matrix score threshold (0.5)')
    parser.add_argument(
        '--iou-thr',
        type=float,
        default=0.5,
        help='confusion matrix IoU threshold (0.5)')
    return parser.parse_args(argv)


@runtime.exit_on_error
def main(argv=None):
    args = parse_args(argv)
    with open(args.results) as f:
        results = json.load(f)
    os.makedirs(args.out_dir, exist_ok=True)
    curves = pr_curves(results, args.ann_file)
    plot_pr_curves(curves, osp.join(args.out_dir, 'pr_curves.png'))
    with open(osp.join(args.out_dir, 'pr_curves.json'), 'w') as f:
        json.dump(
            {
                cls: {
                    str(t): dict(recall=r.tolist(), precision=p.tolist())
                    for t, (r, p) in by_iou.items()
                }
                for cls, by_iou in curves.items()
            }, f)
    cm = confusion_matrix(results, args.ann_file, args.score_thr, args.iou_thr)
    plot_confusion_matrix(cm, osp.join(args.out_dir, 'confusion_matrix.png'))
    with open(osp.join(args.out_dir, 'confusion_matrix.json'), 'w') as f:
        json.dump(dict(cm, matrix=cm['matrix'].tolist()), f)
    print('confusion matrix (rows: ground truth, columns: predicted):')
    labels = cm['labels']
    print(' ' * 12 + ''.join(f'{name:>12}' for name in labels))
    for label, row in zip(labels, cm['matrix']):
        print(f'{label:>12}' + ''.join(f'{v:12d}' for v in row))
    print(f'saved pr_curves.png, confusion_matrix.png (+ .json) in '
          f'{args.out_dir}')


if __name__ == '__main__':
    main()
