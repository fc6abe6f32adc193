#!/usr/bin/env python
"""Time the split check that runs before every training: the annotations
read and every image read to its last byte, the first time (nothing known)
and again in a new run (the images remembered in the split's
annotations/.image_check_cache.json).

Without SPLIT it generates broadcast-like frames (default 2,000 at
1920x1080) into --work-dir and times those; with SPLIT it times your own
split folder (its cache file is set aside for the cold run and put back).
"""
import argparse
import os
import os.path as osp
import time

# the examples of --help
EPILOG = r'''Examples:
    python tools/analysis_tools/bench_split_check.py                 # 2,000 generated 1080p frames
    python tools/analysis_tools/bench_split_check.py datasets/train
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Time the split check (annotations and every image read '
        'whole), cold and cached.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument(
        'split',
        nargs='?',
        help='a split folder (images/ + annotations/annotations.json); '
        'default: generated frames')
    parser.add_argument(
        '--frames',
        type=int,
        default=2000,
        help='generated frames (default 2000)')
    parser.add_argument(
        '--size',
        default='1920x1080',
        metavar='WxH',
        help='generated frame size (default 1920x1080)')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/bench_split_check',
        help='where the generated frames go (kept for the next run)')
    return parser.parse_args(argv)


def timed_check(split_dir: str) -> float:
    """Seconds of one check of ``split_dir`` as a new process runs it."""
    from field_detr.datasets import image_files, validation
    image_files._READ_WHOLE.clear()  # nothing remembered in this process
    ann_file, img_dir = validation.split_paths(split_dir)
    start = time.perf_counter()
    validation.load_coco_split(ann_file, img_dir)
    return time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    from field_detr.datasets import image_files, validation
    split = args.split
    if split is None:
        from field_detr.datasets.demo_data import write_split
        split = osp.join(args.work_dir, f'frames_{args.frames}_{args.size}')
        if not osp.isfile(validation.split_paths(split)[0]):
            w, h = (int(v) for v in args.size.split('x'))
            print(f'generating {args.frames} frames of {w}x{h} in {split}')
            write_split(split, args.frames, 0, size=(w, h))
    ann_file, img_dir = validation.split_paths(split)
    cache = osp.join(osp.dirname(ann_file), image_files.IMAGE_CACHE_NAME)
    kept = cache + '.bench'
    if osp.exists(cache):
        os.replace(cache, kept)
    try:
        cold = timed_check(split)
        warm = timed_check(split)
    finally:
        if osp.exists(kept):
            os.replace(kept, cache)
    num = len(os.listdir(img_dir))
    size = sum(osp.getsize(osp.join(img_dir, f))
               for f in os.listdir(img_dir)) / 1e6
    print(f'{split}: {num} images, {size:.0f} MB')
    print(f'first check (every image read whole): {cold:.1f} s '
          f'({1000 * cold / num:.1f} ms an image)')
    print(f'next run (cached by size and time):   {warm:.2f} s')


if __name__ == '__main__':
    main()
