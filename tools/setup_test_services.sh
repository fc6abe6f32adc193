#!/usr/bin/env bash
# Install what the team-server and browser tests run besides .venv: Debian's
# PostgreSQL server (tests/helpers/services.py) and Chromium (the MLflow UI
# test, driven by playwright). Nothing is done where both are there; with
# apt-get as root or through sudo they are installed; elsewhere one line says
# what is missing, and those tests (marked slow) fail with it:
# `bash tools/run_tests.sh -m "not slow"` runs without them.
set -uo pipefail

missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null \
    || command -v initdb > /dev/null || missing+=(postgresql)
# the path the browser test launches (tests/tracking/test_training_run.py)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    if sudo -n true 2> /dev/null; then SUDO="sudo -n"; else SUDO=none; fi
fi
if ! command -v apt-get > /dev/null || [[ "$SUDO" == none ]]; then
    echo "[setup] the team-server and browser tests need ${missing[*]}" \
         "(Debian packages); install them, or leave those tests out with -m \"not slow\"" >&2
    exit 0
fi
echo "[setup] installing ${missing[*]} with apt-get for the team-server and browser tests"
log=$(mktemp)
# env after sudo: sudo drops the caller's environment
if ! { $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
        > "$log" 2>&1; then
    echo "[setup] apt-get could not install ${missing[*]} (its output: $log);" \
         "the team-server and browser tests will fail" >&2
    exit 0
fi
rm -f "$log"
