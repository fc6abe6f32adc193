#!/usr/bin/env bash
# Install field_detr on a GPU machine without internet and measure training
# throughput of the main config at 1333x800: AMP fp16 and bf16, with and
# without torch.compile, and stock MMDetection DETR for comparison.
#
#   bash tools/gpu_bench.sh [WHEEL_DIR] [RESULT_DIR]
#
# WHEEL_DIR (default .whl) holds, for the machine's Python:
#   mmengine, mmdet, pycocotools, addict, yapf, platformdirs, termcolor,
#   terminaltables, shapely and setuptools<82 wheels, and the mmcv-2.1.0
#   sdist (mmcv-2.1.0.tar.gz). Fetch them on a machine with internet, e.g.
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 -d .whl mmengine==0.10.7 mmdet==3.3.0 ...
#   pip download --no-deps --no-binary :all: --no-build-isolation mmcv==2.1.0 -d .whl
# torch, torchvision, numpy, opencv, scipy, matplotlib must be installed.
#
# mmcv is built with its CPU ops only (DETR uses no mmcv CUDA op): the GPU
# is hidden during the build so setup.py does not start a long nvcc build.
# For models that need mmcv's CUDA ops: tools/build_mmcv.sh SDIST OUT_DIR cuda.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WHEELS="${1:-.whl}"
RESULTS="${2:-work_dirs/gpu_bench}"
SITE="${SITE:-/tmp/field_detr_site}"
PY="${PYTHON:-python3}"
mkdir -p "$RESULTS" "$SITE"
export PYTHONPATH="$SITE:$ROOT/projects/field_detr${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
t0=$(date +%s)
stamp() { echo "[gpu_bench +$(( $(date +%s) - t0 ))s] $*"; }

stamp "installing wheels into $SITE"
"$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" \
    "$WHEELS"/*.whl || exit 1

if ! "$PY" -c "import mmcv.ops" 2>/dev/null; then
    stamp "building mmcv 2.1.0 (CPU ops, C++20)"
    build=$(mktemp -d)
    PYTHON="$PY" bash tools/build_mmcv.sh "$WHEELS"/mmcv-2.1.0.tar.gz \
        "$build" cpu > "$RESULTS/mmcv_build.log" 2>&1 \
        || { tail -30 "$RESULTS/mmcv_build.log"; exit 1; }
    "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "$build"/mmcv-*.whl || exit 1
fi
"$PY" -c "import torch, mmcv, mmdet, mmengine, field_detr; from mmcv.ops import nms; \
print('torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmdet', mmdet.__version__, \
torch.cuda.get_device_name(0))" || exit 1

stamp "generating 96 synthetic 1333x800 training images"
DATA=/tmp/field_detr_bench_data
[[ -d $DATA/train ]] || "$PY" tools/make_demo_data.py --out "$DATA" \
    --train 96 --val 4 --size 1333x800 > /dev/null || exit 1

bench() {  # name, timeout, benchmark.py arguments
    local name=$1 limit=$2; shift 2
    stamp "benchmark: $name"
    timeout "$limit" "$PY" tools/analysis_tools/benchmark.py \
        configs/detr_r50_field.py --train-dir "$DATA/train" \
        --input-size 1333x800 --json "$RESULTS/$name.json" "$@" \
        2>"$RESULTS/$name.err" | grep -v "^\s*$" | tail -8 \
        || echo "  ($name did not finish: see $RESULTS/$name.err)"
}
bench fp16_eager_vs_stock 150 --iters 30 --warmup 10 --amp on \
    --compare-stock --data-only --cfg-options compile=False
bench bf16_eager 90 --iters 30 --warmup 10 --amp on \
    --cfg-options compile=False optim_wrapper.dtype=bfloat16
bench bf16_eager_batch16 120 --iters 20 --warmup 5 --amp on --batch-size 16 \
    --workers 12 --cfg-options compile=False optim_wrapper.dtype=bfloat16
bench bf16_compile 170 --iters 30 --warmup 10 --amp on \
    --cfg-options compile=True optim_wrapper.dtype=bfloat16
bench fp16_compile 150 --iters 30 --warmup 10 --amp on \
    --cfg-options compile=True
stamp "done; figures in $RESULTS/*.json"
