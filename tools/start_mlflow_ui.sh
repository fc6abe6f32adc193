#!/usr/bin/env bash
# Open the MLflow UI on the store training writes to.
#
#   bash tools/start_mlflow_ui.sh [--host 127.0.0.1] [--port 5000] [--store sqlite:///...]
#
# Store: --store, else MLFLOW_TRACKING_URI if it is a database URI, else the
# embedded default ./mlruns/mlflow.db (artifacts in ./mlruns/artifacts).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST=127.0.0.1
PORT=5000
STORE="${MLFLOW_TRACKING_URI:-}"
[[ "$STORE" == http* ]] && STORE=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --host) HOST="$2"; shift 2 ;;
        --port) PORT="$2"; shift 2 ;;
        --store) STORE="$2"; shift 2 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
STORE="${STORE:-sqlite:///$PWD/mlruns/mlflow.db}"
MLFLOW="$ROOT/.venv/bin/mlflow"
[[ -x "$MLFLOW" ]] || MLFLOW=mlflow
echo "MLflow UI for $STORE at http://$HOST:$PORT"
exec "$MLFLOW" ui --backend-store-uri "$STORE" --host "$HOST" --port "$PORT"
