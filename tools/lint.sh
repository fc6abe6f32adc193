#!/usr/bin/env bash
# Lint the repository: ruff (settings in ruff.toml: pycodestyle and
# pyflakes), isort's import order (.isort.cfg) and yapf's code format
# (.style.yapf), the last two with OpenMMLab's settings. .ci/run runs it
# before the tests. Needs tools/setup.sh's .venv.
# `bash tools/lint.sh --fix` fixes what the three can.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIRS=(configs projects tests tools)
if [ "${1:-}" = "--fix" ]; then
    "$ROOT/.venv/bin/isort" "${DIRS[@]}"
    "$ROOT/.venv/bin/yapf" -i -r "${DIRS[@]}"
    exec "$ROOT/.venv/bin/ruff" check --fix .
fi
"$ROOT/.venv/bin/ruff" check .
"$ROOT/.venv/bin/isort" --check-only --diff "${DIRS[@]}"
# yapf --diff prints the changes it would make, and exits 1 if there are any
exec "$ROOT/.venv/bin/yapf" --diff -r "${DIRS[@]}"
