#!/usr/bin/env bash
# Train on several GPUs (or nodes) with torchrun and MMEngine's "pytorch"
# launcher.
#
#   bash tools/dist_train.sh CONFIG GPUS [tools/train.py arguments]
#
# Multi-node: run it on every node with the same MASTER_ADDR/PORT:
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh CONFIG 8
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh CONFIG 8
# Effective batch = NNODES x GPUS x batch size x accumulation; add
# --auto-scale-lr to scale the learning rate to it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python
exec "$PY" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
