#!/usr/bin/env bash
# Build an mmcv wheel with its compiled ops from the PyPI sdist; used by
# tools/setup.sh and tools/gpu_bench.sh.
#
#   bash tools/build_mmcv.sh SDIST OUT_DIR [cpu|cuda]
#
# PYTHON (default python3) is the interpreter to build for. It needs torch,
# setuptools<82 (mmcv's setup.py imports pkg_resources) and mmcv's setup-time
# imports (addict, packaging, pyyaml, yapf, numpy).
# cpu (default): the GPU is hidden, so setup.py does not start a long nvcc
# build; DETR uses no mmcv CUDA op. cuda: FORCE_CUDA=1 (needs nvcc).
# The wheel appears in OUT_DIR only once it is complete.
set -euo pipefail
SDIST=$1
OUT=$2
OPS=${3:-cpu}
PY="${PYTHON:-python3}"

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
tar -xzf "$SDIST" -C "$build"
src=$(echo "$build"/mmcv-*)
# torch >= 2.11 headers use C++20 features; mmcv's setup.py asks for C++17.
sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
if [[ "$OPS" == cpu ]]; then
    export CUDA_VISIBLE_DEVICES="" FORCE_CUDA=0
else
    export FORCE_CUDA=1
fi
# No debug info: -g doubles each file's compile time (36 s vs 14.5 s per
# file on 2 cores) and nobody debugs mmcv's ops from this wheel. Python's own
# CFLAGS carry -g; a later -g0 wins.
export CFLAGS="${CFLAGS:+$CFLAGS }-g0" CXXFLAGS="${CXXFLAGS:+$CXXFLAGS }-g0"
(cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$PY" -m pip wheel -q --disable-pip-version-check --no-build-isolation \
    --no-deps -w "$build/dist" .)
mkdir -p "$OUT"
mv "$build"/dist/mmcv-*.whl "$OUT/"
