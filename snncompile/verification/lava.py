"""The Lava stage: the emitted Loihi artifact run in Lava (fixed_pt) in the separate Lava environment."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from snncompile import ir, progress
from snncompile.errors import error
from snncompile.lava_env import lava_python
from snncompile.verification.process import run_group
from snncompile.verification.stages import Layer, Stage, StageOutput, graph_members

RUNTIME = Path(__file__).resolve().parents[1] / "targets" / "loihi" / "lava_runtime.py"
PROGRESS = "snncompile-progress"
"""The runtime's progress lines (lava_runtime.PROGRESS; that file imports nothing from snncompile)."""
log = logging.getLogger("snncompile.verification.lava")
TIMEOUT_S = 900

__all__ = ["RUNTIME", "TIMEOUT_S", "LavaStage", "lava_python", "unstream"]


def unstream(spikes: np.ndarray, samples: int, steps: int, phase: int) -> np.ndarray:
    """Lava's streamed output [B·T + L, ...] (samples back to back) -> [T, B, ...]: sample b reaches the
    layer at depth `phase` at step b·T + phase (the netx reset schedule makes each sample independent)."""
    return np.stack([spikes[b * steps + phase:b * steps + phase + steps] for b in range(samples)], axis=1)


def _report(line: str, advance: progress.Advance) -> None:
    """A runtime stdout line: `snncompile-progress DONE TOTAL` moves the bar; others go to the debug log."""
    parts = line.split()
    if len(parts) == 3 and parts[0] == PROGRESS and parts[1].isdigit():
        advance(0, completed=int(parts[1]))
    else:
        log.debug("lava runtime: %s", line)


class LavaStage(Stage):
    """Runs the compiled graph's netx artifact in Lava; every chain layer's spikes, mapped to the layers."""

    def __init__(self, graph: ir.Graph, layers: list[Layer], python: Path) -> None:
        super().__init__("lava", f"emitted netx artifact run in Lava fixed_pt ({python})", exact=True)
        self.graph, self.layers, self.python = graph, layers, python
        self.seconds: dict[str, float] = {}

    def run(self, x: np.ndarray, dtype: torch.dtype) -> StageOutput:
        from snncompile.targets.loihi.emit import MANIFEST, emit_loihi

        with tempfile.TemporaryDirectory(prefix="snncompile-lava-") as tmp:
            root = Path(tmp)
            (root / "artifact").mkdir()
            emit_loihi(self.graph, root / "artifact")
            np.save(root / "x.npy", x)
            job = {"artifact": str(root / "artifact"), "input": str(root / "x.npy"), "output": str(root / "out.npz")}
            (root / "jobs.json").write_text(json.dumps([job]))
            steps = x.shape[0] * x.shape[1] + int(self.graph.metadata["loihi"]["latency"])
            with progress.task(f"Lava: {x.shape[1]} samples in a subprocess", steps, "steps") as advance:
                proc = run_group([str(self.python), str(RUNTIME), str(root / "jobs.json")], TIMEOUT_S,
                                 on_line=lambda line: _report(line, advance))
            if proc.returncode != 0:
                raise error("SNC903", f"the Lava run failed (exit {proc.returncode}): "
                            f"{proc.stderr.strip().splitlines()[-1:] or ['no output']}",
                            hint=f"compile with `--target loihi -o DIR` and run `{self.python} {RUNTIME} "
                                 "JOBS.json` on DIR (see that file's docstring) to see the whole error")
            manifest = json.loads((root / "artifact" / MANIFEST).read_text())
            with np.load(root / "out.npz") as data:
                raw = {k: data[k] for k in data.files}
        self.seconds = dict(zip(("build", "run", "read"), map(float, raw.pop("seconds")), strict=True))
        return StageOutput(self._spikes(raw, manifest, x.shape[0], x.shape[1]), None, dtype)

    def _spikes(self, raw: dict[str, np.ndarray], manifest: dict, steps: int, samples: int) -> dict[str, np.ndarray]:
        where = {m["node"]: (la["index"], m["offset"], m["size"]) for la in manifest["layers"] for m in la["members"]}
        out: dict[str, np.ndarray] = {}
        for layer, names in graph_members(self.graph, self.layers).items():
            if not all(n in where for n in names):
                continue
            total: np.ndarray | None = None
            for n in names:
                index, offset, size = where[n]
                flat = raw[f"layer{index}"].reshape(raw[f"layer{index}"].shape[0], -1)[:, offset:offset + size]
                part = flat.reshape(-1, *self.graph.shapes[n]).astype(np.float64)
                part = unstream(part, samples, steps, index)
                total = part if total is None else total + part
            if total is not None:  # graph_members never gives a layer no names
                out[layer] = total
        return out
