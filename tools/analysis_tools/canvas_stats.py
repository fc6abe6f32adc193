#!/usr/bin/env python
"""Batch shapes of a config's training pipeline: how many distinct padded
shapes an epoch makes and how many of the padded pixels are padding, for
MMDetection's padding (each batch to its largest image, rounded up to
``pad_size_divisor``) against a few rounding steps and fixed canvas lists
(``model.gpu.canvases``: ``FieldDetDataPreprocessor(canvases=...)``).

The training pipeline's geometric transforms (resize, crop, flip) run on
blank frames of the dataset's size, so the scales are the pipeline's own;
padding never changes them (the size histogram is printed once).
"""
import argparse
import json
import os.path as osp
from collections import Counter

import numpy as np

# the examples of --help
EPILOG = r'''Examples:
    python tools/analysis_tools/canvas_stats.py configs/detr_r50_field.py --batch-size 16
    python tools/analysis_tools/canvas_stats.py configs/detr_r50_field.py \
        --image-size 1280x720 --canvases 512x896 640x1152 768x1344
'''

# transforms that never change an image's size (skipped: the blank frames
# have nothing for them to do) and the loading / packing steps
SIZE_NEUTRAL = ('LoadImageFromFile', 'LoadAnnotations', 'PackDetInputs',
                'PhotoMetricDistortion', 'BallCopyPaste')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Distinct batch shapes and padded pixels of a config\'s '
        'training pipeline, by padding rule.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('config')
    parser.add_argument(
        '--frames',
        type=int,
        default=2000,
        help='frames in the epoch (default 2000)')
    parser.add_argument(
        '--image-size',
        default='1920x1080',
        metavar='WxH',
        help='the frames\' size (default 1920x1080, broadcast HD)')
    parser.add_argument(
        '--train-dir',
        help='take the frame sizes from this split\'s annotations instead '
        '(drawn with replacement)')
    parser.add_argument(
        '--batch-size',
        type=int,
        help='images per batch (default: the config\'s)')
    parser.add_argument(
        '--canvases',
        nargs='+',
        metavar='HxW',
        help='a canvas list to compare (height x width); the config\'s own '
        '(model.gpu.canvases) is always compared')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='write the figures to this file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='override config entries')
    return parser.parse_args(argv)


def frame_sizes(args) -> list:
    """``(h, w)`` of each frame of the epoch."""
    if not args.train_dir:
        w, h = (int(s) for s in args.image_size.lower().split('x'))
        return [(h, w)] * args.frames
    from field_detr.datasets.validation import ANN_RELPATH
    with open(osp.join(args.train_dir, ANN_RELPATH)) as f:
        images = json.load(f)['images']
    rng = np.random.default_rng(args.seed)
    picks = rng.integers(0, len(images), args.frames)
    return [(images[i]['height'], images[i]['width']) for i in picks]


def pipeline_sizes(pipeline_cfg, sizes) -> list:
    """The image size after the pipeline's geometric transforms, for blank
    frames of ``sizes``, each with one box over the whole frame (so a crop
    always keeps a box)."""
    from mmdet.registry import TRANSFORMS
    from mmdet.structures.bbox import HorizontalBoxes
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        pipeline = Compose([
            TRANSFORMS.build(t) for t in pipeline_cfg
            if t['type'] not in SIZE_NEUTRAL
        ])
    blanks, out = {}, []
    for h, w in sizes:
        if (h, w) not in blanks:
            blanks[(h, w)] = np.zeros((h, w, 3), np.uint8)
        results = pipeline(
            dict(
                img=blanks[(h, w)],
                img_shape=(h, w),
                ori_shape=(h, w),
                gt_bboxes=HorizontalBoxes(
                    np.array([[0, 0, w, h]], np.float32)),
                gt_bboxes_labels=np.zeros(1, np.int64),
                gt_ignore_flags=np.zeros(1, bool)))
        out.append(tuple(int(s) for s in results['img_shape'][:2]))
    return out


def batches(sizes, originals, batch_size) -> list:
    """Consecutive batches within each orientation, as MMDetection's
    ``AspectRatioBatchSampler`` forms them (landscape and portrait frames
    apart); a last incomplete batch of each is kept."""
    groups = {True: [], False: []}
    out = []
    for size, (h, w) in zip(sizes, originals):
        group = groups[w >= h]
        group.append(size)
        if len(group) == batch_size:
            out.append(list(group))
            group.clear()
    out.extend(g for g in groups.values() if g)
    return out


def padding_figures(batch_list, rule) -> dict:
    """Distinct padded shapes and the padding's share of the padded pixels
    under ``rule`` (a function ``(h, w) -> (H, W)`` of the batch's largest
    height and width)."""
    shapes, padded, image = Counter(), 0, 0
    for batch in batch_list:
        h = max(s[0] for s in batch)
        w = max(s[1] for s in batch)
        canvas = rule(h, w)
        shapes[canvas] += 1
        padded += canvas[0] * canvas[1] * len(batch)
        image += sum(s[0] * s[1] for s in batch)
    return dict(
        shapes=len(shapes),
        padding=1 - image / padded,
        most_common=[[list(s), n] for s, n in shapes.most_common(5)])


def main(argv=None):
    args = parse_args(argv)
    from field_detr import runtime
    from field_detr.models.data_preprocessor import choose_canvas
    cfg = runtime.load_config(args.config, args.cfg_options)
    batch_size = args.batch_size or cfg.train_dataloader.batch_size
    originals = frame_sizes(args)
    np.random.seed(args.seed)
    import random
    random.seed(args.seed)
    sizes = pipeline_sizes(cfg.train_dataloader.dataset.pipeline, originals)
    batch_list = batches(sizes, originals, batch_size)
    preprocessor = cfg.model.get('data_preprocessor', {})
    divisor = preprocessor.get('pad_size_divisor', 1)

    def rounded(d):
        return lambda h, w: choose_canvas(h, w, (), d)

    rules = {f'the batch, to {divisor} (now)': rounded(divisor)}
    for d in (32, 64, 128):
        if d != divisor:
            rules[f'the batch, to {d}'] = rounded(d)
    lists = []
    own = (cfg.model.get('gpu') or {}).get('canvases') or \
        preprocessor.get('canvases')
    if own:
        lists.append(('the config\'s canvases', own))
    if args.canvases:
        lists.append(('canvases ' + ' '.join(args.canvases), [
            tuple(int(s) for s in c.lower().split('x')) for c in args.canvases
        ]))
    for name, canvases in lists:
        rules[name] = (lambda c: lambda h, w: choose_canvas(h, w, c, divisor))(
            canvases)
    figures = {
        name: padding_figures(batch_list, rule)
        for name, rule in rules.items()
    }
    histogram = Counter(sizes)
    print(f'{args.config}: {len(sizes)} frames, {len(batch_list)} batches '
          f'of {batch_size}; image sizes after the pipeline (h x w, '
          f'frames): ' + ', '.join(f'{h}x{w} {n}'
                                   for (h, w), n in sorted(histogram.items())))
    print(f'{"padded to":44}{"shapes":>8}{"padding %":>11}  most common')
    for name, fig in figures.items():
        common = ', '.join(f'{h}x{w} ({n})'
                           for (h, w), n in fig['most_common'][:3])
        print(f'{name:44}{fig["shapes"]:>8}{100 * fig["padding"]:>10.1f}  '
              f'{common}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    sizes={
                        f'{h}x{w}': n
                        for (h, w), n in histogram.items()
                    },
                    batch_size=batch_size,
                    rules=figures),
                f,
                indent=1)


if __name__ == '__main__':
    main()
