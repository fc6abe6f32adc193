#!/usr/bin/env python
"""Tracking benchmark: a model's player ids and ball path on generated clips
with known tracks.

For each clip (``datasets/demo_video.py``: players that walk, run, cross and
leave the frame; a ball passed, rolling, streaked when fast, hidden behind
its holder for 3-8 frames), ``track_video`` follows the players (ByteTrack)
and the ball, and the tracks are scored against the ground truth:

* players: HOTA, IDF1, MOTA and ID switches (Roboflow's ``trackers.eval``,
  TrackEval's metrics with TrackEval's matching), the ID switches per 10
  crossings of two players; the same metrics for the detector's own boxes
  given the true ids (each box matched to a true player by IoU): what
  perfect association would reach with these detections, an upper bound;
  and the tracker's scores on the true boxes (``TruthBoxes``: every player
  detected, exactly): what the tracker reaches with a perfect detector —
  the two bounds tell the detector's share of the errors from the
  tracker's;
* the ball, per frame: recall and precision at 5 px of the raw detections
  (the frame's best ball above the model's threshold) and of the track
  (gated, gaps filled), on the frames where the ball is visible and on
  those where it is hidden;
* the time tracking adds to the detector's, per frame;
* for more than one clip, a ``combined`` row: the clips as one, as
  TrackEval combines a benchmark's sequences (the counts behind each
  figure summed over the clips, so a clip weighs by its boxes, crossings
  and frames).
"""
import argparse
import json
import os
import os.path as osp
import tempfile

import numpy as np

from field_detr import runtime
from field_detr.errors import InputError

# the examples of --help
EPILOG = r'''Examples:
    python tools/analysis_tools/eval_tracking.py work_dirs/demo/model.pth
    python tools/analysis_tools/eval_tracking.py MODEL --seeds 101 102 103 --frames 500 --out tracking.json
    python tools/analysis_tools/eval_tracking.py MODEL --clip-dirs my_clip/   # clip.mp4 + gt/players.txt, gt/ball.txt
'''


def parse_args(argv=None):
    from field_detr.datasets.demo_video import CLIP_FILES
    from field_detr.inference.ball_track import BallTrack
    from field_detr.inference.video_tracks import REENTRY_GAP
    parser = argparse.ArgumentParser(
        description='Score player ids (HOTA, IDF1, MOTA, ID switches) and the '
        'ball\'s path (recall / precision at 5 px, raw and tracked) on '
        'generated clips with known tracks.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('model', help='exported model or training checkpoint')
    parser.add_argument('--config', help='config, for a training checkpoint')
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=[101, 102],
        help='generate one held-out clip per seed (default 101 102)')
    parser.add_argument(
        '--frames',
        type=int,
        default=500,
        help='frames a generated clip (default 500, 20 s at 25 fps)')
    parser.add_argument(
        '--clip-dirs',
        nargs='+',
        help='score these clips instead (' + ', '.join(CLIP_FILES) +
        ' as generated)')
    parser.add_argument(
        '--max-gap',
        type=int,
        default=BallTrack.max_gap,
        help='frames without a ball the ball\'s track fills (default '
        f'{BallTrack.max_gap})')
    parser.add_argument(
        '--reentry-gap',
        type=int,
        default=REENTRY_GAP,
        help='frames a player who leaves the picture at a side may stay out '
        f'and keep his id (as infer.py --track; default {REENTRY_GAP}; 0: a '
        'new id)')
    parser.add_argument(
        '--work-dir', help='where clips and tracks go (default: a temp dir)')
    parser.add_argument('--device', help='cpu, cuda, ... (default: auto)')
    parser.add_argument('--out', help='write the figures to this JSON file')
    return parser.parse_args(argv)


def oracle_ids(gt_path: str, det_rows: list, out_path: str) -> None:
    """The detector's own player boxes with the true ids (each matched to a
    true player by IoU >= 0.5, Hungarian; the others new ids): perfect
    association on these detections."""
    from scipy.optimize import linear_sum_assignment
    from trackers import load_mot_file
    from trackers.eval import box_iou

    from field_detr.datasets.mot import PLAYER, write_mot
    gt = load_mot_file(gt_path)
    by_frame = {}
    for frame, _, x1, y1, x2, y2, score in det_rows:
        by_frame.setdefault(frame, []).append((x1, y1, x2, y2, score))
    rows, spare = [], 100000
    for frame, dets in sorted(by_frame.items()):
        d = np.array([r[:4] for r in dets]).reshape(-1, 4)
        ids = [None] * len(dets)
        if frame in gt and len(d):
            g = np.asarray(gt[frame].boxes).copy()
            g[:, 2:] += g[:, :2]  # the truth's xywh as xyxy
            iou = box_iou(d, g)
            for i, j in zip(*linear_sum_assignment(-iou)):
                if iou[i, j] >= 0.5:
                    ids[i] = int(gt[frame].ids[j])
        for (x1, y1, x2, y2, score), tid in zip(dets, ids):
            if tid is None:
                spare, tid = spare + 1, spare + 1
            rows.append(
                (frame, tid, x1, y1, x2 - x1, y2 - y1, score, PLAYER, -1))
    write_mot(out_path, rows)


class TruthBoxes:
    """Stands in for a ``LocalDetector`` in ``track_video``: each frame's
    true player boxes (score 1), read from MOTChallenge ``gt_path``; no
    ball."""
    classes = ('player', )
    class_thresholds = np.array([0.5], np.float32)

    def __init__(self, gt_path: str) -> None:
        from trackers import load_mot_file
        self._gt = load_mot_file(gt_path)
        self._frame = 0

    def detect_batch(self, images, batch_size=4, thresholds=None):
        from field_detr.inference.detector import Detections
        out = []
        for _ in images:
            self._frame += 1
            boxes = np.zeros((0, 4), np.float32)
            if self._frame in self._gt:
                boxes = np.asarray(self._gt[self._frame].boxes,
                                   np.float32).copy()
                boxes[:, 2:] += boxes[:, :2]  # xywh as xyxy
            out.append(
                Detections(boxes, np.ones(len(boxes), np.float32),
                           np.zeros(len(boxes), np.int64), self.classes))
        return out


def player_sequence(gt_path: str, tracks_path: str):
    """TrackEval's CLEAR, HOTA and Identity metrics of one clip's player
    tracks (``trackers.eval``: a ``SequenceResult``)."""
    from trackers.eval import evaluate_mot_sequence
    return evaluate_mot_sequence(
        gt_path, tracks_path, metrics=['CLEAR', 'HOTA', 'Identity'])


def summary(result) -> dict:
    """The figures reported of a ``SequenceResult``."""
    return dict(
        HOTA=float(result.HOTA.HOTA),
        IDF1=float(result.Identity.IDF1),
        MOTA=float(result.CLEAR.MOTA),
        IDSW=int(result.CLEAR.IDSW))


def player_scores(gt_path: str, tracks_path: str) -> dict:
    return summary(player_sequence(gt_path, tracks_path))


def combined_players(results: list) -> dict:
    """The clips' ``SequenceResult`` objects as one, as TrackEval combines
    the sequences of a benchmark: the counts behind HOTA, IDF1 and MOTA
    summed over the clips (a clip weighs by its boxes), the ID switches
    summed."""
    from trackers.eval import (aggregate_clear_metrics, aggregate_hota_metrics,
                               aggregate_identity_metrics)
    from trackers.eval.results import SequenceResult
    return summary(
        SequenceResult.from_dict(
            dict(
                sequence='combined',
                CLEAR=aggregate_clear_metrics(
                    [r.CLEAR.to_dict() for r in results]),
                HOTA=aggregate_hota_metrics([
                    r.HOTA.to_dict(include_arrays=True, arrays_as_list=False)
                    for r in results
                ]),
                Identity=aggregate_identity_metrics(
                    [r.Identity.to_dict() for r in results]))))


def ball_scores(gt_path: str, points: dict, hidden: set) -> dict:
    """Recall and precision at 5 px, per frame, of ``points`` (frame ->
    centre): on every frame of the clip, on those where the ball is
    visible and on those where it is hidden behind a player."""
    from trackers import load_mot_file
    gt = {  # frame -> the ball's centre
        f: rows.boxes[0, :2] + rows.boxes[0, 2:] / 2
        for f, rows in load_mot_file(gt_path).items()
    }
    out = {}
    for part, frames in (('all', sorted(gt)),
                         ('visible', [f for f in gt if f not in hidden]),
                         ('hidden', [f for f in gt if f in hidden])):
        hits = reported = 0
        for f in frames:
            if f not in points:
                continue
            reported += 1
            cx, cy = gt[f]
            hits += np.hypot(points[f][0] - cx, points[f][1] - cy) <= 5
        out[part] = _rates(int(hits), reported, len(frames))
    return out


def _rates(hits: int, reported: int, frames: int) -> dict:
    return dict(
        frames=frames,
        hits=hits,
        reported=reported,
        recall=hits / max(1, frames),
        precision=hits / reported if reported else float('nan'))


def score_clip(detector, clip_dir: str, out_dir: str, max_gap: int,
               reentry_gap: int) -> tuple:
    """Track one clip and score it (module docstring); ``reentry_gap`` as
    ``track_video``'s, for the detector's and the true boxes. Returns the
    figures and the players' ``SequenceResult`` objects (for
    :func:`combine`)."""
    from field_detr.inference.ball_track import BallTrack
    from field_detr.inference.video_tracks import track_video
    with open(osp.join(clip_dir, 'gt', 'events.json')) as f:
        events = json.load(f)
    raw = {}  # the frame's best ball above the model's threshold
    ball = detector.classes.index('ball')
    threshold = float(detector.class_thresholds[ball])

    class Raw(BallTrack):

        def update(self, frame, boxes, scores):
            if len(scores) and scores.max() >= threshold:
                box = boxes[int(np.argmax(scores))]
                raw[frame] = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            return super().update(frame, boxes, scores)

    tracks = track_video(
        detector,
        osp.join(clip_dir, 'clip.mp4'),
        ball_track=Raw(max_gap),
        reentry_gap=reentry_gap)
    paths = tracks.write(out_dir, 'clip')
    oracle = osp.join(out_dir, 'oracle_players.txt')
    gt_players = osp.join(clip_dir, 'gt', 'players.txt')
    oracle_ids(gt_players, tracks.players, oracle)
    truth = track_video(
        TruthBoxes(gt_players),
        osp.join(clip_dir, 'clip.mp4'),
        reentry_gap=reentry_gap).write(out_dir, 'true_boxes')['players']
    sequences = dict(
        players=player_sequence(gt_players, paths['players']),
        players_upper_bound=player_sequence(gt_players, oracle),
        players_true_boxes=player_sequence(gt_players, truth))
    hidden = set(events['ball_hidden_frames'])
    gt_ball = osp.join(clip_dir, 'gt', 'ball.txt')
    figures = dict(
        clip=clip_dir,
        frames=tracks.frames,
        crossings=events['crossings'],
        hidden_frames=len(hidden),
        **{
            k: summary(v)
            for k, v in sequences.items()
        },
        ball_raw=ball_scores(gt_ball, raw, hidden),
        ball_track=ball_scores(gt_ball,
                               {p.frame: p.centre
                                for p in tracks.ball}, hidden),
        ms_detect=1000 * tracks.detect_s / max(1, tracks.frames),
        ms_track=1000 * tracks.track_s / max(1, tracks.frames))
    _per_crossings(figures)
    return figures, sequences


def _per_crossings(figures: dict) -> None:
    players = figures['players']
    players['IDSW_per_10_crossings'] = 10 * players['IDSW'] / max(
        1, figures['crossings'])


def combine(figures: list, sequences: list) -> dict:
    """The clips' figures (:func:`score_clip`) as one row, as TrackEval
    reports a benchmark: players by :func:`combined_players`, the ID
    switches per 10 crossings of all the clips' crossings, the ball's
    recall and precision over all the clips' frames, the times over all
    frames."""
    frames = sum(f['frames'] for f in figures)
    out = dict(
        clip='combined',
        clips=len(figures),
        frames=frames,
        crossings=sum(f['crossings'] for f in figures),
        hidden_frames=sum(f['hidden_frames'] for f in figures),
        **{
            k: combined_players([s[k] for s in sequences])
            for k in sequences[0]
        },
        **{
            k: {
                part:
                _rates(*(sum(f[k][part][n] for f in figures)
                         for n in ('hits', 'reported', 'frames')))
                for part in figures[0][k]
            }
            for k in ('ball_raw', 'ball_track')
        },
        **{
            k: sum(f[k] * f['frames'] for f in figures) / max(1, frames)
            for k in ('ms_detect', 'ms_track')
        })
    _per_crossings(out)
    return out


def print_report(results: list) -> None:
    head = (f'{"clip":<10} {"HOTA":>6} {"IDF1":>6} {"MOTA":>6} {"IDSW":>5} '
            f'{"/10 cross":>9} {"bound HOTA/IDF1":>16} {"true boxes":>14} '
            f'{"ball raw R/P":>13} '
            f'{"ball track R/P":>15} {"hidden R":>9} {"track ms":>9}')
    print(head)
    for r in results:
        p, b = r['players'], r['players_upper_bound']
        t = r['players_true_boxes']
        raw, tr = r['ball_raw']['all'], r['ball_track']['all']
        print(
            f'{osp.basename(r["clip"].rstrip("/")):<10} {p["HOTA"]:>6.3f} '
            f'{p["IDF1"]:>6.3f} {p["MOTA"]:>6.3f} {p["IDSW"]:>5d} '
            f'{p["IDSW_per_10_crossings"]:>9.2f} '
            f'{b["HOTA"]:>7.3f} / {b["IDF1"]:.3f} '
            f'{t["HOTA"]:>6.3f} / {t["IDF1"]:.3f} '
            f'{raw["recall"]:>6.3f}/{raw["precision"]:.3f} '
            f'{tr["recall"]:>7.3f}/{tr["precision"]:.3f} '
            f'{r["ball_track"]["hidden"]["recall"]:>9.3f} '
            f'{r["ms_track"]:>5.1f} ({100 * r["ms_track"] / r["ms_detect"]:.1f} %)'
        )
    print('R/P: recall / precision at 5 px over every frame of the clip; '
          'hidden R: the track\'s recall on the frames the ball is hidden '
          'behind a player (its filled gaps); bound: the detector\'s boxes '
          'with the true ids; true boxes: the tracker on the true boxes '
          '(a perfect detector); track ms: per frame, and its share of the '
          'detector\'s time; combined: the clips as one, as TrackEval '
          'combines a benchmark\'s sequences (counts summed over the clips)')


def check_clip(clip_dir: str) -> None:
    """A one-line error for a clip folder without its video or truth."""
    from field_detr.datasets.demo_video import CLIP_FILES
    for name in CLIP_FILES:
        if not osp.isfile(osp.join(clip_dir, name)):
            raise InputError(
                f'{osp.join(clip_dir, name)}: not found (a clip folder '
                'holds ' + ', '.join(CLIP_FILES) +
                ', as make_demo_data.py --video writes them)')


@runtime.exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from field_detr.datasets.demo_video import write_clip
    from field_detr.inference.detector import LocalDetector
    for clip in args.clip_dirs or []:
        check_clip(clip)
    work = args.work_dir or tempfile.mkdtemp(prefix='field_detr_tracking_')
    clips = args.clip_dirs or []
    for seed in ([] if args.clip_dirs else args.seeds):
        clips.append(osp.join(work, f'clip_{seed}'))
        if not osp.isfile(osp.join(clips[-1], 'clip.mp4')):
            print(f'generating {args.frames} frames (seed {seed}) in '
                  f'{clips[-1]}')
            write_clip(clips[-1], seed, num_frames=args.frames)
    detector = LocalDetector(
        args.model, device=args.device, config=args.config)
    results, sequences = [], []
    for clip in clips:
        out_dir = osp.join(work, 'tracks', osp.basename(clip.rstrip('/')))
        os.makedirs(out_dir, exist_ok=True)
        figures, clip_sequences = score_clip(detector, clip, out_dir,
                                             args.max_gap, args.reentry_gap)
        results.append(figures)
        sequences.append(clip_sequences)
    if len(results) > 1:
        results.append(combine(results, sequences))
    print_report(results)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
