#!/usr/bin/env bash
# Set up (tools/setup.sh), then run the test suite. Extra arguments go to
# pytest, e.g. `bash tools/run_tests.sh -m "not slow"`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
exec "$ROOT/.venv/bin/python" -m pytest "$@"
