#!/usr/bin/env bash
# Lint the repository: ruff (settings in ruff.toml: pycodestyle and
# pyflakes) and isort's import order (.isort.cfg, OpenMMLab's settings).
# .ci/run runs it before the tests. Needs tools/setup.sh's .venv.
# `bash tools/lint.sh --fix` fixes what both can.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIRS=(configs projects tests tools)
if [ "${1:-}" = "--fix" ]; then
    "$ROOT/.venv/bin/ruff" check --fix .
    exec "$ROOT/.venv/bin/isort" "${DIRS[@]}"
fi
"$ROOT/.venv/bin/ruff" check .
exec "$ROOT/.venv/bin/isort" --check-only --diff "${DIRS[@]}"
