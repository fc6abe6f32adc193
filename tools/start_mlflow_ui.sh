#!/usr/bin/env bash
# Open the MLflow UI on the store training writes to.
#
#   bash tools/start_mlflow_ui.sh [--host 127.0.0.1] [--port 5000] [--store sqlite:///...]
#
# Store: --store, else MLFLOW_TRACKING_URI if it is a database URI, else the
# embedded default ./mlruns/mlflow.db (artifacts in ./mlruns/artifacts).
# Prints the address of the training runs table (a password in the store
# URI shown as ***). It listens on 127.0.0.1 unless --host says otherwise,
# and warns when it does: this UI has no authentication.
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
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
STORE="${STORE:-sqlite:///$PWD/mlruns/mlflow.db}"
MLFLOW="$ROOT/.venv/bin/mlflow"
[[ -x "$MLFLOW" ]] || MLFLOW=mlflow
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python3
# a password in the store URI is not printed
SHOWN=$(printf '%s' "$STORE" | sed -E 's#(://[^:@/[:space:]]*:)[^@/[:space:]]+@#\1***@#')
echo "MLflow UI for $SHOWN at http://$HOST:$PORT"
if [[ "$HOST" != 127.0.0.1 && "$HOST" != localhost && "$HOST" != ::1 ]]; then
    echo "warning: listening on $HOST: anyone who reaches this port reads and writes every run, without a password" >&2
fi
# MLflow 3's UI opens an experiment in its GenAI view unless told otherwise
# (its "Model training" switch, or workflowType in the address).
EXP_ID=$("$PY" - "$STORE" "${MLFLOW_EXPERIMENT_NAME:-detr_training}" 2>/dev/null <<'EOF' || true
import sys
from mlflow import MlflowClient
exp = MlflowClient(tracking_uri=sys.argv[1]).get_experiment_by_name(sys.argv[2])
print(exp.experiment_id if exp else '')
EOF
)
if [[ -n "$EXP_ID" ]]; then
    echo "training runs: http://$HOST:$PORT/#/experiments/$EXP_ID?workflowType=machine_learning"
fi
exec "$MLFLOW" ui --backend-store-uri "$STORE" --host "$HOST" --port "$PORT"
