#!/usr/bin/env python
"""Detect players and the ball in images, folders of images or videos.

Writes annotated copies (images keep their names; a video becomes
<name>_det.mp4) and one COCO-style detections.json to --out-dir, and prints
the throughput. With --track, a video gets player ids (ByteTrack) and the
ball's path instead: <name>_players.txt and <name>_ball.txt
(MOTChallenge), <name>_ball_path.csv and <name>_tracks.mp4.
"""
import argparse
import json
import os
import os.path as osp
import time
from collections import Counter

import cv2
from tqdm import tqdm

from field_detr import runtime
from field_detr.errors import InputError
from field_detr.inference.ball_track import BallTrack
from field_detr.inference.detector import (LocalDetector, coco_records,
                                           draw_detections)
from field_detr.inference.slicing import parse_tile, slicing_settings
from field_detr.inference.video_tracks import PLAYER_GAP, REENTRY_GAP

IMAGE_EXT = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
VIDEO_EXT = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v')

# the examples of --help
EPILOG = r'''Examples:
    python tools/infer.py models/detr_trained.pth match.mp4 --out-dir out/
    python tools/infer.py models/detr_trained.pth frames/ img1.jpg --threshold 0.3
    python tools/infer.py models/detr_trained.pth match_4k.mp4 --slice 1280x720 --overlap 0.2
    python tools/infer.py models/detr_trained.pth match.mp4 --track --out-dir out/   # player ids, the ball's path
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run a trained model on images and videos.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('model', help='exported model or training checkpoint')
    parser.add_argument(
        'inputs',
        nargs='+',
        help='image files, folders of images, video files')
    parser.add_argument(
        '--out-dir',
        default='work_dirs/infer',
        help='output folder (default work_dirs/infer)')
    parser.add_argument(
        '--threshold',
        type=float,
        help='confidence threshold of every class (default: the model\'s '
        'own: the ball\'s chosen on its validation frames, 0.5 for the '
        'others)')
    parser.add_argument('--device', help='cuda, cpu, ... (default: auto)')
    parser.add_argument('--config', help='config, for a training checkpoint')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=4,
        help='images per forward pass (default 4)')
    parser.add_argument(
        '--slice',
        metavar='WxH',
        help='sliced inference for small balls: run the full frame and '
        'overlapping WxH tiles as one batch and merge their boxes (SAHI\'s '
        'rule); e.g. 1280x720 for 4K video')
    parser.add_argument(
        '--overlap',
        type=float,
        default=0.2,
        help='tile overlap ratio with --slice (default 0.2)')
    parser.add_argument(
        '--track',
        action='store_true',
        help='videos: player ids (ByteTrack) and the ball as one object '
        '(one a frame, gated by its path, short gaps filled); writes '
        'MOTChallenge files per class, the ball\'s path as CSV and a video '
        'with ids and the ball\'s trail')
    parser.add_argument(
        '--max-gap',
        type=int,
        default=BallTrack.max_gap,
        help='with --track: the longest run of frames without a ball that '
        f'is filled by interpolation (default {BallTrack.max_gap})')
    parser.add_argument(
        '--trail',
        type=int,
        default=25,
        help='with --track: frames of the ball\'s path drawn (default 25)')
    parser.add_argument(
        '--teams',
        type=int,
        default=2,
        help='with --track: shirt colours the players are split into, one '
        'ByteTrack each, so players of two teams who cross keep their ids '
        '(default 2; 3 or 4 with referees or goalkeepers in colours of '
        'their own; 0: one tracker for all)')
    parser.add_argument(
        '--player-gap',
        type=int,
        default=PLAYER_GAP,
        help='with --track: players\' tracks are cut where teammates cross '
        '(for up to this many frames), a track that ends is joined to one '
        'of its team that starts where their motions lead within this many '
        'frames, and the frames between are filled (score -1 in the '
        f'MOTChallenge file); 0: none of it (default {PLAYER_GAP}, '
        f'{PLAYER_GAP / 25:g} s at 25 fps)')
    parser.add_argument(
        '--reentry-gap',
        type=int,
        default=REENTRY_GAP,
        help='with --track: a player who leaves the picture at its left or '
        'right side keeps his id if one of his team comes back in there, '
        'his feet within three times his height of where he left, within '
        f'this many frames; for a fixed camera (default {REENTRY_GAP}, '
        f'{REENTRY_GAP / 25:g} s at 25 fps; 0: a new id)')
    args = parser.parse_args(argv)
    if args.slice:
        try:
            args.slicing = slicing_settings(
                dict(tile=parse_tile(args.slice), overlap=args.overlap))
        except ValueError as e:
            parser.error(str(e))
    else:
        args.slicing = None
    return args


def expand(inputs):
    """(kind, path) for each image or video named or inside a folder."""
    items = []
    for path in inputs:
        if osp.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.lower().endswith(IMAGE_EXT):
                    items.append(('image', osp.join(path, name)))
        elif path.lower().endswith(VIDEO_EXT):
            items.append(('video', path))
        elif path.lower().endswith(IMAGE_EXT):
            items.append(('image', path))
        else:
            raise InputError(f'{path}: not an image, video or folder')
        if not osp.exists(path):
            raise InputError(f'{path}: not found')
    return items


class Collector:
    """Accumulates the COCO-style output."""

    def __init__(self, classes):
        self.coco = dict(
            images=[],
            annotations=[],
            categories=[dict(id=i + 1, name=c) for i, c in enumerate(classes)])

    def add(self, det, file_name, shape, frame=None):
        image_id = len(self.coco['images']) + 1
        record = dict(
            id=image_id, file_name=file_name, height=shape[0], width=shape[1])
        if frame is not None:
            record['frame'] = frame
        self.coco['images'].append(record)
        self.coco['annotations'] += coco_records(
            det, image_id,
            len(self.coco['annotations']) + 1)


def run_images(detector, paths, args, out):
    for start in tqdm(
            range(0, len(paths), args.batch_size), desc='images',
            unit='batch'):
        chunk = paths[start:start + args.batch_size]
        imgs = [cv2.imread(p) for p in chunk]
        for p, img in zip(chunk, imgs):
            if img is None:
                raise InputError(f'{p}: not a readable image')
        for p, img, det in zip(
                chunk, imgs,
                detector.detect_batch(imgs, batch_size=args.batch_size)):
            name = osp.basename(p)
            cv2.imwrite(
                osp.join(args.out_dir, name), draw_detections(img, det))
            out.add(det, name, img.shape)
    return len(paths)


def run_video(detector, path, args, out):
    from field_detr.datasets.video_files import (read_frames, video_info,
                                                 video_writer)
    fps, total, size = video_info(path)
    name = osp.splitext(osp.basename(path))[0] + '_det.mp4'
    writer = video_writer(osp.join(args.out_dir, name), fps, size)
    frames = 0
    with tqdm(
            total=total or None, desc=osp.basename(path), unit='frame') as bar:
        for batch in read_frames(path, args.batch_size):
            for frame, det in zip(
                    batch,
                    detector.detect_batch(batch, batch_size=args.batch_size)):
                writer.write(draw_detections(frame, det))
                out.add(det, osp.basename(path), frame.shape, frame=frames)
                frames += 1
            bar.update(len(batch))
    writer.release()
    return frames


def run_tracking(detector, path, args) -> int:
    """``--track`` on one video: ids, the ball's path, their files and the
    annotated video; prints what was found and what tracking cost."""
    from field_detr.datasets.video_files import video_info
    from field_detr.inference.video_tracks import annotate_video, track_video
    name = osp.splitext(osp.basename(path))[0]
    total = video_info(path)[1] or None
    with tqdm(total=total, desc=f'{name}: tracking', unit='frame') as bar:
        tracks = track_video(
            detector,
            path,
            ball_track=BallTrack(max_gap=args.max_gap),
            batch_size=args.batch_size,
            on_batch=bar.update,
            teams=args.teams,
            player_gap=args.player_gap,
            reentry_gap=args.reentry_gap)
    paths = tracks.write(args.out_dir, name)
    video = osp.join(args.out_dir, f'{name}_tracks.mp4')
    with tqdm(
            total=tracks.frames, desc=f'{name}: drawing', unit='frame') as bar:
        annotate_video(path, tracks, video, args.trail, on_batch=bar.update)
    ids = len({row[1] for row in tracks.players})
    teams = len(set(tracks.teams.values()))
    filled = sum(p.filled for p in tracks.ball)
    per_frame = 1000 / max(1, tracks.frames)
    print(f'{name}: {tracks.frames} frames, {ids} player ids in {teams} '
          f'team(s), the ball in '
          f'{len(tracks.ball)} ({filled} filled); tracking '
          f'{tracks.track_s * per_frame:.1f} ms a frame on top of the '
          f'detector\'s {tracks.detect_s * per_frame:.1f} ms; '
          f'{paths["players"]}, {paths["ball"]}, {paths["ball_path"]}, '
          f'{video}')
    return tracks.frames


@runtime.exit_on_error
def main(argv=None):
    args = parse_args(argv)
    items = expand(args.inputs)
    detector = LocalDetector(
        args.model,
        args.threshold,
        args.device,
        args.config,
        slicing=args.slicing)
    os.makedirs(args.out_dir, exist_ok=True)
    out = Collector(detector.classes)
    start = time.perf_counter()
    images = [p for kind, p in items if kind == 'image']
    if args.track and images:
        raise InputError(f'{images[0]}: --track follows players and the ball '
                         'through a video, not an image')
    n = run_images(detector, images, args, out) if images else 0
    for kind, path in items:
        if kind == 'video':
            n += run_tracking(detector, path, args) if args.track else \
                run_video(detector, path, args, out)
    if args.track:
        return
    elapsed = time.perf_counter() - start
    json_path = osp.join(args.out_dir, 'detections.json')
    with open(json_path, 'w') as f:
        json.dump(out.coco, f)
    counts = Counter(a['category_id'] for a in out.coco['annotations'])
    per_class = ', '.join(f'{counts[c["id"]]} {c["name"]}'
                          for c in out.coco['categories'])
    print(f'{n} images/frames in {elapsed:.1f} s: {n / elapsed:.2f} fps on '
          f'{detector.device}; {len(out.coco["annotations"])} detections '
          f'({per_class}) written to {json_path}, annotated output in '
          f'{args.out_dir}')


if __name__ == '__main__':
    main()
