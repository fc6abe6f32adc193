#!/usr/bin/env python
"""Plot training curves and compute training time from field_detr's
MMEngine JSON logs (<work_dir>/<timestamp>/vis_data/scalars.json).

Keys may be MMEngine's names (loss, lr, coco/bbox_mAP, loss_bbox) or the
tracking names (train_loss, learning_rate, val_map, val_ap_player).
"""
import argparse
import json
import sys

from field_detr.tracking.curves import plot_curves, train_time

# the examples of --help
EPILOG = r'''Examples:
    python tools/analysis_tools/analyze_logs.py plot_curve work_dirs/x/*/vis_data/scalars.json \
        --keys train_loss val_map learning_rate --out curves.png
    python tools/analysis_tools/analyze_logs.py cal_train_time work_dirs/x/*/vis_data/scalars.json
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Analyse field_detr training logs.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot curves to a PNG')
    plot.add_argument('logs', nargs='+', help='scalars.json logs')
    plot.add_argument(
        '--keys',
        nargs='+',
        default=['train_loss', 'val_map', 'learning_rate'],
        help='curves to plot (default: train_loss val_map '
        'learning_rate)')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--out', default='curves.png', help='output PNG')
    cal = sub.add_parser(
        'cal_train_time', help='time per iteration and per epoch')
    cal.add_argument('logs', nargs='+', help='scalars.json logs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.task == 'plot_curve':
        data = plot_curves(args.logs, args.keys, args.out, args.title)
        for log, series in data.items():
            counts = ', '.join(f'{k}: {len(v[1])} points'
                               for k, v in series.items())
            print(f'{log}: {counts}')
            if not any(len(v[1]) for v in series.values()):
                sys.exit(f'error: none of {args.keys} is in {log}')
        print(f'saved {args.out}')
    else:
        for log in args.logs:
            stats = train_time(log)
            print(f'{log}\n' + json.dumps(stats, indent=2))


if __name__ == '__main__':
    main()
