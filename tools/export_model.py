#!/usr/bin/env python
"""Export a training checkpoint to one self-describing inference file
(weights without optimizer state, model config, class names, normalisation,
test pipeline, checksum), and optionally to ONNX.
"""
import argparse
import os.path as osp

from field_detr import runtime
from field_detr.inference.export import export_model

# the examples of --help
EPILOG = r'''Examples:
    python tools/export_model.py --checkpoint work_dirs/x/checkpoints/best_model.pth \
        --output models/detr_trained.pth
    python tools/export_model.py --checkpoint C --output O --fp16 --onnx models/detr.onnx
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a checkpoint for inference.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG)
    parser.add_argument(
        '--checkpoint',
        required=True,
        help='training checkpoint (any of checkpoints/*.pth)')
    parser.add_argument(
        '--output', required=True, help='exported model file to write')
    parser.add_argument(
        '--config',
        help='config file; default: the one '
        'stored in the checkpoint')
    parser.add_argument(
        '--fp16',
        action='store_true',
        help='store float16 weights (half the size; '
        'LocalDetector computes in float32)')
    parser.add_argument(
        '--onnx',
        metavar='PATH',
        help='also export the network to ONNX and check it '
        'against PyTorch with onnxruntime')
    parser.add_argument(
        '--onnx-size',
        default='640x384',
        metavar='WxH',
        help='fixed ONNX input size (default 640x384)')
    return parser.parse_args(argv)


@runtime.exit_on_error
def main(argv=None):
    args = parse_args(argv)
    exported = export_model(args.checkpoint, args.output, args.config,
                            args.fp16)
    size_mb = osp.getsize(args.output) / 2**20
    print(f'exported {args.checkpoint} -> {args.output} '
          f'({exported["dtype"]}, {size_mb:.1f} MiB, classes '
          f'{exported["classes"]}, sha256 {exported["sha256"][:12]})')
    if args.onnx:
        from field_detr.inference.onnx_export import export_onnx
        w, h = (int(v) for v in args.onnx_size.lower().split('x'))
        report = export_onnx(args.output, args.onnx, (w, h))
        print(f'ONNX written to {args.onnx} ({report["size_mb"]:.1f} MiB); '
              f'onnxruntime vs PyTorch on a {w}x{h} image: max abs '
              f'difference {report["max_abs_diff"]:.2e} (scores and boxes)')


if __name__ == '__main__':
    main()
