#!/usr/bin/env bash
# Set up field_detr in ./.venv on a fresh machine (Python 3.11).
#
#   bash tools/setup.sh            # idempotent: a ready .venv returns in seconds
#
# mmcv 2.1.0 ships no wheel for current torch, so it is built from the PyPI
# sdist with its ops (CPU ops unless MMCV_WITH_CUDA_OPS=1) and C++20, which
# torch >= 2.11 headers need. The built wheel is kept in
# ${FIELD_DETR_CACHE:-~/.cache/field_detr}/wheels/<mmcv>-torch<ver>-<python>/ so a
# later set-up on the same machine (a fresh clone, CI) installs it in seconds.
#
# Environment:
#   PYTHON              interpreter for the venv (default: python3.11, else python3)
#   VENV                venv path (default: .venv in the repository root)
#   FIELD_DETR_CACHE    wheel cache root (default: ~/.cache/field_detr)
#   MMCV_WITH_CUDA_OPS  1 builds mmcv's CUDA ops too (needs nvcc; DETR needs none)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
CACHE="${FIELD_DETR_CACHE:-$HOME/.cache/field_detr}"
MMCV_VERSION=2.1.0
TORCH_VERSION=$(sed -n 's/^torch==//p' requirements.txt)

log() { echo "[setup] $*"; }

# The stamp records what the venv was built from; a matching stamp means
# there is nothing to do.
STAMP="$VENV/.field_detr_setup"
want_stamp="$(cat requirements.txt tools/setup.sh tools/build_mmcv.sh | sha256sum | cut -d' ' -f1) cuda_ops=${MMCV_WITH_CUDA_OPS:-0}"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]]; then
    log "environment in $VENV is up to date"
    exit 0
fi

start=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check --no-input)

# torch wants setuptools >= 77; mmcv's build imports pkg_resources (gone in 82).
"${PIP[@]}" install -q --upgrade pip 'setuptools>=77,<82' wheel ninja
log "installing torch $TORCH_VERSION"
"${PIP[@]}" install -q "torch==$TORCH_VERSION" "$(grep '^torchvision==' requirements.txt)"

PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
ops=cpu; [[ "${MMCV_WITH_CUDA_OPS:-0}" == 1 ]] && ops=cuda
WHEELS="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG-$ops-ops"
if ! ls "$WHEELS"/mmcv-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION ($ops ops) from source: about 10 minutes on 2 cores, once per machine"
    build=$(mktemp -d)
    # --no-build-isolation: metadata preparation imports pkg_resources and torch.
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$build"
    # mmcv's build imports these at setup time.
    "${PIP[@]}" install -q addict packaging pyyaml yapf "$(grep '^numpy==' requirements.txt)"
    PYTHON="$PY" bash tools/build_mmcv.sh "$build"/mmcv-*.tar.gz "$WHEELS" "$ops"
    rm -rf "$build"
    log "cached $(ls "$WHEELS")"
else
    log "using cached mmcv wheel from $WHEELS"
fi

log "installing requirements"
"${PIP[@]}" install -q --find-links "$WHEELS" -r requirements.txt
# The plugin package, importable as `field_detr` (configs load it through custom_imports).
"${PIP[@]}" install -q --no-deps --no-build-isolation -e projects/field_detr

"$PY" - <<'EOF'
import mmcv, mmdet, mmengine, torch
from mmcv.ops import nms  # noqa: F401  (proves the compiled ops load)
import field_detr  # noqa: F401
print(f"[setup] torch {torch.__version__}, mmengine {mmengine.__version__}, "
      f"mmcv {mmcv.__version__}, mmdet {mmdet.__version__}: ok")
EOF
echo "$want_stamp" > "$STAMP"
log "done in $(( $(date +%s) - start )) s"
