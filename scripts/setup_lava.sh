#!/usr/bin/env bash
# Creates .venv-lava: Python 3.10 with lava-nc 0.10.0, lava-dl 0.6.0 (no torch) and h5py (docs/LOIHI.md 6.1).
# The work is done by snncompile.lava_env (also `snncompile lava-setup` in an installed package); it needs only
# the standard library, so any python3 runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LAVA_VENV:-.venv-lava}
PY=${LAVA_SETUP_PYTHON:-python3}
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m snncompile.lava_env create "$VENV"
