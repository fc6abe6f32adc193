#!/usr/bin/env python
"""Generate a small synthetic pitch dataset (players of two teams and a ball)
in field_detr's split layout:

    OUT/train/images/*.jpg   OUT/train/annotations/annotations.json
    OUT/val/images/*.jpg     OUT/val/annotations/annotations.json

An existing split is never overwritten: the tool stops instead.
"""
import argparse
import os.path as osp
import sys

from field_detr.datasets.demo_data import make_demo_dataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--out', default='datasets', help='dataset root (default: datasets)')
    parser.add_argument(
        '--train', type=int, default=48, help='training images (default: 48)')
    parser.add_argument(
        '--val', type=int, default=16, help='validation images (default: 16)')
    parser.add_argument(
        '--size',
        default='640x384',
        metavar='WxH',
        help='image size (default: 640x384)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='random seed; val uses seed + 1 (default: 0)')
    parser.add_argument(
        '--hard-balls',
        action='store_true',
        help='smaller, grey, motion-streaked balls, a third of them partly '
        'under a player\'s leg')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split('x'))
    except ValueError:
        sys.exit(f'error: --size must be WxH, got {args.size!r}')
    for name in ('train', 'val'):
        if osp.exists(osp.join(args.out, name)):
            sys.exit(f'error: {osp.join(args.out, name)} already exists; '
                     'choose another --out or move it away')
    dirs = make_demo_dataset(
        args.out,
        splits=(('train', args.train, args.seed), ('val', args.val,
                                                   args.seed + 1)),
        size=(w, h),
        hard_balls=args.hard_balls)
    print('demo dataset written to ' + ', '.join(dirs))


if __name__ == '__main__':
    main()
