#!/usr/bin/env bash
# Evaluate a checkpoint on several GPUs (or nodes) with torchrun.
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py arguments]
#
# NNODES, NODE_RANK, MASTER_ADDR, PORT as for tools/dist_train.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python
exec "$PY" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
