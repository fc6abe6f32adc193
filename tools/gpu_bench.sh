#!/usr/bin/env bash
# Training throughput of the main config on one GPU, in one run (about 12
# minutes on a cold machine): field_detr against stock MMDetection DETR at
# 1333x800 (bf16, batch 16 and 4) with the ops / syncs counts (by call site)
# and the backbone-only ceiling, the main config's real multi-scale
# pipeline, CUDA graphs (model.gpu.cuda_graphs), one padding canvas for the
# multi-scale batches (model.gpu.canvases), channels-last +
# cudnn.benchmark under graphs, and a compiled backbone (dynamic and
# static shapes). Figures go to RESULT_DIR/*.json and the log.
#
#   bash tools/gpu_bench.sh [WHEEL_DIR] [RESULT_DIR]   # on a GPU machine
#   bash tools/gpu_bench.sh --cpu-smoke                 # every step, tiny, on CPU
#   bash tools/gpu_bench.sh --dino [...]                # + the DINO-4scale rows
#
# --dino also times configs/dino_r50_field.py against MMDetection's DINO-4scale
# R-50 (batch 8 with --profile --ceiling, and batch 16); its deformable
# attention needs mmcv's CUDA ops, so mmcv is built with them (nvcc; about
# 10 minutes more on 16 cores) unless WHEEL_DIR holds an mmcv wheel that has
# them.
#
# WHEEL_DIR (default .whl) holds, for the GPU machine's Python (no internet
# there): mmengine, mmdet, pycocotools, addict, yapf, platformdirs,
# termcolor, terminaltables, shapely and setuptools<82 wheels, and the
# mmcv-2.1.0 sdist (mmcv-2.1.0.tar.gz). Fetch them where pip works:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl mmengine==0.10.7 mmdet==3.3.0 pycocotools==2.0.11 addict yapf \
#       platformdirs termcolor terminaltables shapely 'setuptools<82'
#   cp ~/.cache/pip/.../mmcv-2.1.0.tar.gz .whl/   (the sdist setup.sh downloads)
# torch, torchvision, numpy, opencv, scipy, matplotlib must be installed.
# mmcv is built with its CPU ops (DETR uses no mmcv CUDA op), without debug
# info, on all cores: about 2 minutes on 16.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SMOKE=0 DINO=0
while [[ "${1:-}" == --* ]]; do
    case "$1" in
        --cpu-smoke) SMOKE=1 ;;
        --dino) DINO=1 ;;
        *) echo "gpu_bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
WHEELS="${1:-.whl}"
RESULTS="${2:-work_dirs/gpu_bench}"
SITE="${SITE:-/tmp/field_detr_site}"
PY="${PYTHON:-python3}"
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1
t0=$(date +%s)
stamp() { echo "[gpu_bench +$(( $(date +%s) - t0 ))s] $*"; }

if (( SMOKE )); then
    # the project's own environment; the same steps at toy sizes
    [[ -x .venv/bin/python ]] && PY=.venv/bin/python
    SIZE=320x192 BIG=4 SMALL=2 ITERS=2 WARMUP=1 WORKERS=0 IMAGES=8 SLOW=5
    export CUDA_VISIBLE_DEVICES=""
else
    SIZE=1333x800 BIG=16 SMALL=4 ITERS=16 WARMUP=5 WORKERS=14 IMAGES=64 SLOW=1
    mkdir -p "$SITE"
    export PYTHONPATH="$SITE:$ROOT/projects/field_detr${PYTHONPATH:+:$PYTHONPATH}"
    stamp "installing wheels into $SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" \
        "$WHEELS"/*.whl || exit 1
    OPS=cpu
    (( DINO )) && OPS=cuda
    # mmcv's deformable attention through its CUDA kernel (DINO's)
    cuda_ops_ok() {
        "$PY" -c "
import torch
from mmcv.ops import MultiScaleDeformableAttention as A
a = A(embed_dims=32, num_heads=2, num_levels=1, num_points=2,
      batch_first=True).cuda()
r = lambda *s: torch.rand(*s, device='cuda')
a(r(1, 4, 32), value=r(1, 16, 32), reference_points=r(1, 4, 1, 2),
  spatial_shapes=torch.tensor([[4, 4]], device='cuda'),
  level_start_index=torch.tensor([0], device='cuda'))
torch.cuda.synchronize()" 2>/dev/null
    }
    if ! "$PY" -c "import mmcv.ops" 2>/dev/null ||
            { (( DINO )) && ! cuda_ops_ok; }; then
        stamp "building mmcv 2.1.0 ($OPS ops, C++20)"
        build=$(mktemp -d)
        PYTHON="$PY" bash tools/build_mmcv.sh "$WHEELS"/mmcv-2.1.0.tar.gz \
            "$build" "$OPS" > "$RESULTS/mmcv_build.log" 2>&1 \
            || { tail -30 "$RESULTS/mmcv_build.log"; exit 1; }
        "$PY" -m pip install -q --no-index --no-deps --upgrade --target \
            "$SITE" "$build"/mmcv-*.whl || exit 1
    fi
fi
"$PY" -c "import torch, mmcv, mmdet, mmengine, field_detr; from mmcv.ops import nms; \
print('torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmdet', mmdet.__version__, \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU')" || exit 1

DATA=/tmp/field_detr_bench_data_$IMAGES
stamp "generating $IMAGES synthetic 1333x800 training images"
[[ -d $DATA/train ]] || "$PY" tools/make_demo_data.py --out "$DATA" \
    --train "$IMAGES" --val 2 --size 1333x800 > /dev/null || exit 1

bench() {  # name, time limit (s), bench_train_step.py arguments
    local name=$1 limit=$2; shift 2
    stamp "benchmark: $name"
    limit=$(( limit * SLOW ))
    timeout "$limit" "$PY" tools/analysis_tools/bench_train_step.py \
        "${CONFIG:-configs/detr_r50_field.py}" --train-dir "$DATA/train" \
        --iters "$ITERS" --warmup "$WARMUP" --workers "$WORKERS" \
        --json "$RESULTS/$name.json" "$@" >"$RESULTS/$name.log" \
        2>"$RESULTS/$name.err"
    # the figures are complete once the JSON is written (a process slow to
    # shut its 14 workers down may still meet the time limit after that)
    if [[ -s "$RESULTS/$name.json" ]]; then
        sed -n '/^input /,$p' "$RESULTS/$name.log" | grep -v '^\s*$'
    else
        echo "  ($name did not finish in ${limit}s: see $RESULTS/$name.err)"
        grep 'warm-up step' "$RESULTS/$name.log" | tail -3
    fi
}
# 1. the target: field_detr vs stock, bf16, batch 16, counts and ceiling
bench "bf16_b${BIG}_vs_stock" 140 --input-size "$SIZE" --batch-size "$BIG" \
    --compare-stock --profile --ceiling
# 2. the config's batch, and what the ball head adds to its step
bench "bf16_b${SMALL}_vs_stock" 160 --input-size "$SIZE" --batch-size "$SMALL" \
    --compare-stock --ball-head-cost
# 3. the main config as it trains: multi-scale 480-800 pipeline
bench "bf16_b${BIG}_multiscale" 90 --input-size config --batch-size "$BIG"
# 4. CUDA graphs (backbone to decoder, one per input shape) at one size,
#    with the syncs per step by call site
bench "bf16_b${BIG}_graphs" 120 --input-size "$SIZE" --batch-size "$BIG" \
    --profile --cfg-options model.gpu.cuda_graphs=True
# 5. the multi-scale pipeline padded to one canvas (the generated frames are
#    1333x800: every scale fits 800x1344), with and without graphs
CANVAS="model.gpu.canvases=[[800,1344]]"
bench "bf16_b${BIG}_multiscale_canvas" 90 --input-size config \
    --batch-size "$BIG" --cfg-options "$CANVAS"
bench "bf16_b${BIG}_multiscale_canvas_graphs" 120 --input-size config \
    --batch-size "$BIG" --cfg-options "$CANVAS" model.gpu.cuda_graphs=True
# 6. graphs with channels-last and cudnn.benchmark (few shapes now)
bench "bf16_b${BIG}_graphs_cl_cudnn" 120 --input-size "$SIZE" \
    --batch-size "$BIG" --cfg-options model.gpu.cuda_graphs=True \
    model.gpu.channels_last=True env_cfg.cudnn_benchmark=True
# 7. compile on: the backbone alone (dynamic shapes; warm-up time is the
#    compile cost), and at one size without dynamic shapes
bench "bf16_b${BIG}_compile_backbone" 140 --input-size "$SIZE" \
    --batch-size "$BIG" --cfg-options "model.gpu.compile_modules=[backbone]"
bench "bf16_b${BIG}_compile_backbone_static" 140 --input-size "$SIZE" \
    --batch-size "$BIG" --cfg-options "model.gpu.compile_modules=[backbone]" \
    model.gpu.compile_options.dynamic=False
# 8. the DINO-4scale family (--dino): against MMDetection's DINO, and at 16
if (( DINO )); then
    CONFIG=configs/dino_r50_field.py bench "dino_bf16_b$(( BIG / 2 ))_vs_stock" \
        240 --input-size "$SIZE" --batch-size $(( BIG / 2 )) --compare-stock \
        --profile --ceiling
    CONFIG=configs/dino_r50_field.py bench "dino_bf16_b${BIG}" 160 \
        --input-size "$SIZE" --batch-size "$BIG"
fi
stamp "done; figures in $RESULTS/*.json"
