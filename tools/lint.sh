#!/usr/bin/env bash
# Lint the repository with ruff (settings in ruff.toml): pycodestyle and
# pyflakes. .ci/run runs it before the tests. Needs tools/setup.sh's .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec "$ROOT/.venv/bin/ruff" check "$@" .
