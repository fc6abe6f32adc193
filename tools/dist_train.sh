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
# Restarts: MAX_RESTARTS=3 bash tools/dist_train.sh CONFIG 8 starts the
# workers again when one fails or is preempted (SIGTERM: a checkpoint is
# written first); they resume from the newest checkpoint by themselves.
set -euo pipefail
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$TOOLS/torchrun.sh" "$TOOLS/train.py" "$2" "$1" "${@:3}"
