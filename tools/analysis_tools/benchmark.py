#!/usr/bin/env python
"""Training speed on the real data pipeline: step time, data-time share,
images/s, peak RAM and peak CUDA memory; with --compare-stock the same for
MMDetection's unmodified DETR R-50 config (same input size, batch, workers
and precision, in this process, alternating rounds) and the ratio;
with --data-only the input pipeline alone against what the model consumes.

Examples:
    python tools/analysis_tools/benchmark.py configs/detr_r50_field.py --compare-stock
    python tools/analysis_tools/benchmark.py configs/detr_r50_field_demo.py \\
        --input-size 640x384 --iters 20 --compare-stock --data-only
"""
import argparse
import json

from mmengine.config import DictAction

from field_detr import runtime
from field_detr.benchmark import benchmark, benchmark_data


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark training speed.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 7)[7])
    parser.add_argument('config')
    parser.add_argument('--train-dir', help='split folder (default: the '
                        'config\'s, datasets/train)')
    parser.add_argument('--iters', type=int, default=20,
                        help='timed iterations per config (default 20)')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed iterations first (default 5)')
    parser.add_argument('--input-size', default='1333x800', metavar='WxH',
                        help='images resized to fit WxH (default 1333x800)')
    parser.add_argument('--batch-size', type=int,
                        help='per-process batch (default: the config\'s)')
    parser.add_argument('--workers', type=int,
                        help='data loader workers (default: the config\'s)')
    parser.add_argument('--amp', choices=['on', 'off'],
                        help='force AMP on or off (default: the config\'s; '
                        'off without CUDA)')
    parser.add_argument('--compare-stock', action='store_true',
                        help='also time mmdet\'s detr_r50_8xb2-150e_coco.py')
    parser.add_argument('--data-only', action='store_true',
                        help='also time the input pipeline alone')
    parser.add_argument('--json', help='write the figures to this file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        metavar='KEY=VALUE', help='override config entries')
    return parser.parse_args(argv)


@runtime.exit_on_data_error
def main(argv=None):
    args = parse_args(argv)
    cfg = runtime.load_config(args.config, args.cfg_options)
    w, h = (int(v) for v in args.input_size.lower().split('x'))
    amp = None if args.amp is None else args.amp == 'on'
    res = benchmark(cfg, args.train_dir, (w, h), args.iters, args.warmup,
                    args.batch_size, args.workers, args.compare_stock,
                    amp=amp)
    print(f'\ninput {w}x{h}, {args.iters} timed iterations per config')
    print(f'{"":14}{"step s":>9}{"data s":>9}{"data %":>8}{"img/s":>8}'
          f'{"RAM MB":>9}{"CUDA MB":>9}')
    for name in ('field_detr', 'stock_mmdet'):
        if name in res:
            r = res[name]
            print(f'{name:14}{r["step_s"]:9.3f}{r["data_s"]:9.4f}'
                  f'{100 * r["data_share"]:7.1f}%{r["images_per_s"]:8.2f}'
                  f'{r["peak_ram_mb"]:9.0f}{r["peak_cuda_mb"]:9.0f}')
    if 'ratio_step' in res:
        print(f'step time field_detr / stock: {res["ratio_step"]:.3f} '
              '(target <= 1.02)')
    if args.data_only:
        data = benchmark_data(cfg, args.train_dir, (w, h),
                              max(args.iters * 2, 20), args.batch_size,
                              args.workers)
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
