"""Run compiled Loihi artifacts in Lava from the tests: one subprocess of the Lava interpreter over a jobs.json."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np

from snncompile.verification.lava import RUNTIME, lava_python


def run_lava_jobs(root: Path, jobs: list[tuple[Path, np.ndarray]], options: list[dict] | None = None
                  ) -> list[dict[str, np.ndarray]]:
    """Run each (artifact directory, input [T, B, ...]) in Lava (lava_runtime.py, every job in one process) and
    return what each wrote to <artifact>/lava.npz, in job order. The input is saved as <artifact>/x.npy.
    `options`: per job, extra job keys for the runtime (e.g. dense_skip_limit)."""
    python = lava_python()
    assert python is not None, "no Lava interpreter (SNNCOMPILE_LAVA_PYTHON or .venv-lava)"
    specs = []
    for i, (artifact, x) in enumerate(jobs):
        np.save(artifact / "x.npy", x)
        specs.append({"artifact": str(artifact), "input": str(artifact / "x.npy"),
                      "output": str(artifact / "lava.npz"), **(options[i] if options else {})})
    (root / "jobs.json").write_text(json.dumps(specs))
    proc = subprocess.run([str(python), str(RUNTIME), str(root / "jobs.json")], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = []
    for artifact, _x in jobs:
        with np.load(artifact / "lava.npz") as data:
            results.append({k: data[k] for k in data.files})
    return results
