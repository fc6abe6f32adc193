#!/usr/bin/env bash
# Set up (tools/setup.sh), then train the demo config on datasets/, evaluate
# the best checkpoint (COCO table and ball table), export it, run it on a
# few validation frames and plot the training curves. Generates the
# synthetic demo dataset when datasets/ holds no split yet. Each run gets
# its own work dir, so nothing earlier is overwritten.
#
# The console shows progress, validation rounds, warnings and the tables;
# MMEngine's full logs are in the work dir.
#
#   bash tools/run_demo.sh [extra tools/train.py arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
PY="$ROOT/.venv/bin/python"
CONFIG=configs/dino_small_field.py

if [[ ! -d datasets/train && ! -d datasets/val ]]; then
    "$PY" tools/make_demo_data.py --out datasets
fi

WORK_DIR="work_dirs/demo/$(date +%Y%m%d_%H%M%S)"
mkdir -p "$WORK_DIR"
echo "[demo] training $CONFIG into $WORK_DIR"
start=$(date +%s)
"$PY" -u tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@" 2>&1 \
    | tee "$WORK_DIR/train_console.log" | "$PY" -u -m field_detr.runtime.console
echo "[demo] training took $(( $(date +%s) - start )) s"

CKPT="$WORK_DIR/checkpoints/best_model.pth"
[[ -f "$CKPT" ]] || CKPT="$(cat "$WORK_DIR/last_checkpoint")"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" \
    --out "$WORK_DIR/results.bbox.json" \
    --out-metrics "$WORK_DIR/metrics.json" > "$WORK_DIR/test_console.log" 2>&1 \
    || { tail -n 30 "$WORK_DIR/test_console.log"; exit 1; }
echo
sed -n '/^COCO box AP on/,$p' "$WORK_DIR/test_console.log"
echo

"$PY" tools/export_model.py --checkpoint "$CKPT" --output "$WORK_DIR/model.pth" \
    > "$WORK_DIR/export_console.log" 2>&1 \
    || { tail -n 30 "$WORK_DIR/export_console.log"; exit 1; }
mapfile -t FRAMES < <(find datasets/val/images -maxdepth 1 -type f | sort | head -n 4)
"$PY" tools/infer.py "$WORK_DIR/model.pth" "${FRAMES[@]}" \
    --out-dir "$WORK_DIR/predictions" 2>&1 | tail -n 1
"$PY" tools/analysis_tools/analyze_logs.py plot_curve \
    "$WORK_DIR"/*/vis_data/scalars.json \
    --keys train_loss val_map_50 val_ball_recall_10px learning_rate \
    --out "$WORK_DIR/curves.png" > /dev/null

echo "[demo] results in $WORK_DIR:"
echo "[demo]   pictures (the model's thresholds): $WORK_DIR/predictions/"
echo "[demo]   training curves:            $WORK_DIR/curves.png"
echo "[demo]   exported model:             $WORK_DIR/model.pth"
echo "[demo]   checkpoints:                $WORK_DIR/checkpoints/"
echo "[demo]   metrics:                    $WORK_DIR/metrics.json"
echo "[demo]   full logs:                  $WORK_DIR/*/*.log"
echo "[demo]   MLflow UI:                  bash tools/start_mlflow_ui.sh"
