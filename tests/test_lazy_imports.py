"""`import snncompile` and `snncompile --help` load no optional heavy library (onnx, h5py, nir, matplotlib, ...)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("onnx", "onnxruntime", "matplotlib", "h5py", "nir", "sklearn", "tonic")
ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(body: str) -> list[str]:
    """The heavy modules in sys.modules after running `body` in a fresh interpreter."""
    code = PROBE.format(body=body, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("body", [
    "import snncompile",
    "import snncompile.cli\nsys.argv = ['snncompile', '--help']\n"
    "try:\n    snncompile.cli.main()\nexcept SystemExit:\n    pass",
], ids=["import", "cli-help"])
def test_no_heavy_import(body: str) -> None:
    assert loaded_after(body) == []


def test_probe_sees_a_heavy_import() -> None:
    assert loaded_after("import snncompile.targets.loihi.emit") == ["h5py"]
