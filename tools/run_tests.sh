#!/usr/bin/env bash
# Set up (tools/setup.sh; tools/setup_test_services.sh installs PostgreSQL and
# Chromium for the team-server and browser tests where they are missing), then
# run the test suite, one pytest-xdist worker per core (tests/conftest.py:
# whole modules as work units, the modules of the learned model as one,
# longest first). Extra arguments go to pytest, e.g.
# `bash tools/run_tests.sh -m "not slow"`; `-n 0` runs in one process.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
bash tools/setup_test_services.sh
exec "$ROOT/.venv/bin/python" -m pytest -n auto --dist loadscope \
    --no-loadscope-reorder "$@"
