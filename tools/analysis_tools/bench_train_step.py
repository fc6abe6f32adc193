#!/usr/bin/env python
"""Training speed on the real data pipeline: step time, data-time share,
images/s, peak RAM and peak CUDA memory; with --compare-stock the same for
MMDetection's unmodified DETR R-50 config (same input size, batch, workers
and precision, in this process, alternating rounds) and the ratio;
with --profile the aten ops and syncing ops (.item(), nonzero, unique,
device-to-host copies) of one loss forward + backward, the CUDA driver's
synchronisations per step and a profiler table; with --ceiling the same
batch through the backbone alone (forward + backward), the practical limit;
with --data-only the input pipeline alone against what the model consumes;
with --ball-head-cost the same model without its ball head, and the
ratio (what the head adds to a step); with --against KEY=VALUE ... the
config with those overrides (what an option changes), and the ratio.
"""
import argparse
import json

from mmengine.config import DictAction
from train_bench import benchmark, benchmark_data

from field_detr import runtime

# the examples of --help
EPILOG = r'''Examples:
    python tools/analysis_tools/bench_train_step.py configs/detr_r50_field.py --compare-stock
    python tools/analysis_tools/bench_train_step.py configs/detr_r50_field_demo.py \
        --input-size 320x192 --batch-size 16 --workers 0 \
        --profile --compare-stock --ceiling
    python tools/analysis_tools/bench_train_step.py configs/detr_small_field.py \
        --input-size 320x192 --batch-size 4 --workers 0 --ball-head-cost
    python tools/analysis_tools/bench_train_step.py configs/dino_small_field.py \
        --input-size config --batch-size 2 --workers 0 --iters 48 --rounds 6 \
        --against model.deformable=stock
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark training speed.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument('config')
    parser.add_argument(
        '--train-dir',
        help='split folder (default: the '
        'config\'s, datasets/train)')
    parser.add_argument(
        '--iters',
        type=int,
        default=20,
        help='timed iterations per config (default 20)')
    parser.add_argument(
        '--warmup',
        type=int,
        default=5,
        help='untimed iterations first (default 5)')
    parser.add_argument(
        '--input-size',
        default='1333x800',
        metavar='WxH',
        help='images resized to fit WxH (default 1333x800); '
        '"config": the config\'s own multi-scale pipeline')
    parser.add_argument(
        '--batch-size',
        type=int,
        help='per-process batch (default: the config\'s)')
    parser.add_argument(
        '--workers',
        type=int,
        help='data loader workers (default: the config\'s)')
    parser.add_argument(
        '--amp',
        choices=['on', 'off'],
        help='force AMP on or off (default: the config\'s; '
        'off without CUDA)')
    parser.add_argument(
        '--compare-stock',
        action='store_true',
        help='also time mmdet\'s detr_r50_8xb2-150e_coco.py')
    parser.add_argument(
        '--profile',
        action='store_true',
        help='count aten ops and syncing ops per loss + '
        'backward (and CUDA syncs per step), print a '
        'profiler table')
    parser.add_argument(
        '--ceiling',
        action='store_true',
        help='also time the backbone alone, forward + '
        'backward, on the same batch')
    parser.add_argument(
        '--ball-head-cost',
        action='store_true',
        help='also time the model without its ball head '
        '(model.ball_head=None), alternating rounds')
    parser.add_argument(
        '--against',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='also time the config with these overrides (e.g. '
        'model.deformable=stock), alternating rounds')
    parser.add_argument(
        '--rounds',
        type=int,
        default=2,
        help='alternating rounds the timed iterations are split into (more '
        'rounds: machine noise hits the configs compared more alike; '
        'default 2)')
    parser.add_argument(
        '--data-only',
        action='store_true',
        help='also time the input pipeline alone')
    parser.add_argument('--json', help='write the figures to this file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='override config entries')
    return parser.parse_args(argv)


def print_table(res: dict, title: str) -> None:
    print(f'\n{title}')
    cols = f'{"":16}{"step s":>9}{"data %":>8}{"img/s":>8}{"CUDA MB":>9}'
    profiled = 'aten_ops' in res['field_detr']
    if profiled:
        cols += f'{"aten ops":>10}{"sync ops":>10}{"CUDA syncs":>11}'
    print(cols)
    rows = [
        n for n in ('field_detr', 'no_ball_head', 'against', 'stock_mmdet')
        if n in res
    ]
    for name in rows:
        r = res[name]
        line = (f'{name:16}{r["step_s"]:9.3f}{100 * r["data_share"]:7.1f}%'
                f'{r["images_per_s"]:8.2f}{r["peak_cuda_mb"]:9.0f}')
        if profiled:
            line += (f'{r["aten_ops"]:10d}{r["sync_ops"]:10d}'
                     f'{r.get("cuda_syncs_per_step", float("nan")):11.1f}')
        print(line)
    if 'backbone_ceiling' in res:
        c = res['backbone_ceiling']
        print(f'{"backbone only":16}{c["step_s"]:9.3f}{"":8}'
              f'{c["images_per_s"]:8.2f}')
    print('(aten ops, sync ops: one loss forward + backward; CUDA syncs: '
          'per training step)' if profiled else '')
    f = res['field_detr']
    if 'cuda_graph_graphs' in f:
        print(f'CUDA graphs: {f["cuda_graph_graphs"]} captured of '
              f'{f["cuda_graph_shapes_seen"]} input shapes, capture '
              f'{f["cuda_graph_capture_s"]:.1f} s, '
              f'{f["cuda_graph_graph_calls"]} steps replayed, '
              f'{f["cuda_graph_eager_calls"]} eager')
    sites = res['field_detr'].get('cuda_sync_sites')
    if sites:
        print('CUDA syncs per step of field_detr, by call site:')
        for site, n in list(sites.items())[:12]:
            print(f'  {n:5.1f}  {site}')
    if 'ratio_step' in res:
        print(f'step time field_detr / stock: {res["ratio_step"]:.3f}')
        if profiled:
            f, s = res['field_detr'], res['stock_mmdet']
            print(f'aten ops field_detr / stock: '
                  f'{f["aten_ops"] / s["aten_ops"]:.3f}; sync ops '
                  f'{f["sync_ops"]} vs {s["sync_ops"]}')
    if 'ratio_ball_head' in res:
        print(f'step time with / without the ball head: '
              f'{res["ratio_ball_head"]:.3f}')
    if 'ratio_against' in res:
        print(f'step time as configured / with the overrides '
              f'(against): {res["ratio_against"]:.3f}')
    if 'ratio_ceiling' in res:
        print(f'field_detr speed / backbone-only ceiling: '
              f'{res["ratio_ceiling"]:.3f}')


@runtime.exit_on_error
def main(argv=None):
    args = parse_args(argv)
    cfg = runtime.load_config(args.config, args.cfg_options)
    size = None
    if args.input_size != 'config':
        size = tuple(int(v) for v in args.input_size.lower().split('x'))
    amp = None if args.amp is None else args.amp == 'on'
    res = benchmark(
        cfg,
        args.train_dir,
        size,
        args.iters,
        args.warmup,
        args.batch_size,
        args.workers,
        args.compare_stock,
        rounds=args.rounds,
        amp=amp,
        profile=args.profile,
        ceiling=args.ceiling,
        ball_head_cost=args.ball_head_cost,
        against=args.against)
    if args.profile:
        print(res['profile_table'])
    print_table(
        res, f'input {args.input_size}, batch '
        f'{res["field_detr"]["batch_size"]}, {args.iters} timed '
        'iterations per config')
    if args.data_only:
        data = benchmark_data(cfg, args.train_dir, size,
                              max(args.iters * 2,
                                  20), args.batch_size, args.workers)
        res['data_only'] = data
        print(f'input pipeline alone: {data["images_per_s"]:.1f} images/s '
              f'with {data["workers"]} workers; the model consumes '
              f'{res["field_detr"]["images_per_s"]:.1f} images/s')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == '__main__':
    main()
