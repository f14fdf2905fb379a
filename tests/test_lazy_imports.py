"""`import snncompile` and `snncompile --help` (also of each command) load no heavy library (torch, onnx, h5py, nir,
matplotlib, ...); neither do the modules a plain install uses to report a missing extra or set up Lava."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "onnx", "onnxruntime", "matplotlib", "h5py", "nir", "sklearn", "scipy", "ray", "tonic")
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


def cli(*args: str) -> str:
    return (f"import snncompile.cli\nsys.argv = ['snncompile', *{list(args)!r}]\n"
            "try:\n    snncompile.cli.main()\nexcept SystemExit:\n    pass")


@pytest.mark.parametrize("body", [
    "import snncompile",
    cli("--help"),
    cli("compile", "--help"),
    cli("verify", "--help"),
    cli("--version"),
    "import snncompile.extras, snncompile.lava_env, snncompile.targets.loihi.caps, snncompile.targets.nir.legalize",
], ids=["import", "cli-help", "compile-help", "verify-help", "version", "extras-lava-env-options"])
def test_no_heavy_import(body: str) -> None:
    assert loaded_after(body) == []


def test_probe_sees_a_heavy_import() -> None:
    assert "h5py" in loaded_after("import snncompile.targets.loihi.emit")
