#!/usr/bin/env bash
# Run a tool under torchrun (MMEngine's "pytorch" launcher) with this
# project's Python; tools/dist_train.sh and tools/dist_test.sh call it.
#
#   bash tools/torchrun.sh SCRIPT PROCS_PER_NODE [SCRIPT arguments]
#
# Multi-node: run it on every node with the same MASTER_ADDR and PORT:
#   NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500).
# MAX_RESTARTS (default 0): torchrun starts the workers again when one fails
# or is stopped by a signal, up to this many times; a restarted training
# resumes from its newest checkpoint by itself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT=$1
PROCS=$2
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python
exec "$PY" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --max-restarts="${MAX_RESTARTS:-0}" \
    --nproc_per_node="$PROCS" "$SCRIPT" --launcher pytorch "${@:3}"
