#!/usr/bin/env bash
# Set up (tools/setup.sh), then train the demo config on datasets/ and
# evaluate the result. Generates the synthetic demo dataset when datasets/
# holds no split yet. Each run gets its own work dir, so nothing earlier is
# overwritten.
#
#   bash tools/run_demo.sh [extra tools/train.py arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
PY="$ROOT/.venv/bin/python"

if [[ ! -d datasets/train && ! -d datasets/val ]]; then
    "$PY" tools/make_demo_data.py --out datasets
fi

WORK_DIR="work_dirs/demo/$(date +%Y%m%d_%H%M%S)"
start=$(date +%s)
"$PY" tools/train.py configs/detr_r50_field_demo.py --work-dir "$WORK_DIR" "$@"
echo "[demo] training took $(( $(date +%s) - start )) s"
CKPT="$(cat "$WORK_DIR/last_checkpoint")"
"$PY" tools/test.py configs/detr_r50_field_demo.py "$CKPT" \
    --work-dir "$WORK_DIR" --out "$WORK_DIR/results.bbox.json"
echo "[demo] checkpoints, logs and results are in $WORK_DIR"
