#!/usr/bin/env bash
# Creates .venv-lava: Python 3.10 with lava-nc 0.10.0, lava-dl 0.6.0 (no torch) and h5py (docs/LOIHI.md 6.1).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LAVA_VENV:-.venv-lava}
STAMP="$VENV/.lava-installed"
[ -f "$STAMP" ] && exit 0

find_python() {
    if command -v python3.10 >/dev/null 2>&1 && python3.10 --version >/dev/null 2>&1; then
        echo python3.10
    elif PYENV_VERSION=3.10.13 python3.10 --version >/dev/null 2>&1; then
        echo "env PYENV_VERSION=3.10.13 python3.10"
    else
        echo "setup_lava.sh: no Python 3.10 found (tried python3.10 and PYENV_VERSION=3.10.13 python3.10);" \
             "lava-nc 0.10.0 needs Python >=3.10,<3.11" >&2
        return 1
    fi
}

PY=$(find_python)
rm -rf "$VENV"
$PY -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: lava-nc==0.10.0
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps lava-dl==0.6.0
"$VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: 'h5py>=3.7,<4'
touch "$STAMP"
echo "setup_lava.sh: $VENV ready"
