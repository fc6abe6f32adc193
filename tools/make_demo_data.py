#!/usr/bin/env python
"""Generate a small synthetic pitch dataset (players of two teams and a ball)
in field_detr's split layout:

    OUT/train/images/*.jpg   OUT/train/annotations/annotations.json
    OUT/val/images/*.jpg     OUT/val/annotations/annotations.json

With --video N, a match clip of N frames instead, with its ground truth
for tracking (players that walk, run, cross and leave the frame; a ball
passed, rolling and hidden behind a player now and then):

    OUT/clip_SEED/clip.mp4   OUT/clip_SEED/gt/players.txt, ball.txt
                             (MOTChallenge), gt/events.json

With --from-clips, the splits' images are frames of such clips instead
(every 10th of 500-frame clips, or every --every-th; train and val from
clips of their own, none of them a --video clip): the frames a tracker
sees, to train a model for video on (docs/inference.md).

An existing split or clip is never overwritten: the tool stops instead.
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
    parser.add_argument(
        '--video',
        type=int,
        metavar='FRAMES',
        help='a match clip of FRAMES frames at 25 fps with its tracks '
        '(e.g. 500: 20 s) into OUT/clip_SEED/, for tools/infer.py --track '
        'and tools/analysis_tools/eval_tracking.py')
    parser.add_argument(
        '--from-clips',
        action='store_true',
        help='the splits\' images from generated clips (every 10th frame '
        'of 500, or --every\'s): players crossing and one behind the other, balls in '
        'flight; to train a model for --track')
    parser.add_argument(
        '--every',
        type=int,
        default=10,
        metavar='N',
        help='with --from-clips: every Nth frame of each 500-frame clip '
        '(default 10: 50 frames a clip; 50: 10 frames a clip, from five '
        'times as many clips, pitches and team colours)')
    args = parser.parse_args(argv)
    if args.from_clips and args.video:
        parser.error('--from-clips writes splits, --video a clip: one of them')
    if args.every != parser.get_default('every') and not args.from_clips:
        parser.error('--every picks the frames of --from-clips')
    if not 1 <= args.every <= 500:
        parser.error(f'--every must be 1 to 500 (a clip has 500 frames), '
                     f'got {args.every}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split('x'))
    except ValueError:
        sys.exit(f'error: --size must be WxH, got {args.size!r}')
    if args.video:
        out = osp.join(args.out, f'clip_{args.seed}')
        if osp.exists(out):
            sys.exit(f'error: {out} already exists; choose another --out or '
                     '--seed')
        from field_detr.datasets.demo_video import write_clip
        events = write_clip(
            out, args.seed, args.video, size=(w, h), hard_ball=args.hard_balls)
        print(f'clip of {args.video} frames written to {out}: '
              f'{events["crossings"]} crossings of two players, the ball '
              f'hidden in {len(events["ball_hidden_frames"])} frames')
        return
    for name in ('train', 'val'):
        if osp.exists(osp.join(args.out, name)):
            sys.exit(f'error: {osp.join(args.out, name)} already exists; '
                     'choose another --out or move it away')
    splits = (('train', args.train, args.seed), ('val', args.val,
                                                 args.seed + 1))
    if args.from_clips:
        from field_detr.datasets.demo_video import write_clip_split
        dirs = []
        for name, num_images, seed in splits:
            dirs.append(osp.join(args.out, name))
            write_clip_split(
                dirs[-1],
                num_images,
                seed,
                every=args.every,
                size=(w, h),
                hard_ball=args.hard_balls)
    else:
        dirs = make_demo_dataset(
            args.out, splits=splits, size=(w, h), hard_balls=args.hard_balls)
    print('demo dataset written to ' + ', '.join(dirs))


if __name__ == '__main__':
    main()
