"""Simulator throughput: PyTorch float forward vs the float IR simulator vs the bit-exact simulator vs Lava."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

import snncompile
import snncompile.nn as snn
from benchmarks.common import EXAMPLES, emit, table
from snncompile.datasets import digits_split
from snncompile.sim import simulate
from snncompile.targets.loihi import simulate_loihi
from snncompile.targets.loihi.emit import emit_loihi
from snncompile.verification.data import encode
from snncompile.verification.lava import RUNTIME, lava_python


def dense256(timesteps: int = 16) -> nn.Module:
    """LOIHI.md section 8's network: input 256 -> 3 x dense 256 LIF, plus a readout."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(3):
        layers += [snn.TimeDistributed(nn.Linear(256, 256, bias=False)), snn.LIF(decay=0.5, v_th=0.3)]
    model = nn.Sequential(*layers, snn.Readout(256, 10))
    model.input_shape, model.timesteps = (256,), timesteps
    return model.eval()


def inputs(name: str, model: nn.Module, samples: int) -> np.ndarray:
    if name == "dense256":
        rng = np.random.default_rng(0)
        return (rng.random((model.timesteps, samples, 256)) < 0.3).astype(np.float64)
    return encode(digits_split()[2][:samples], model.timesteps)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def lava_seconds(graph: snncompile.ir.Graph, x: np.ndarray) -> tuple[float, float] | str:
    """(Lava run only, Lava end to end incl. interpreter start, build and read-back) or why it failed."""
    python = lava_python()
    if python is None:
        return "no .venv-lava"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        emit_loihi(graph, root)
        np.save(root / "x.npy", x)
        (root / "jobs.json").write_text(json.dumps([{"artifact": str(root), "input": str(root / "x.npy"),
                                                     "output": str(root / "out.npz")}]))
        start = time.perf_counter()
        proc = subprocess.run([str(python), str(RUNTIME), str(root / "jobs.json")], capture_output=True, text=True,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=900)
        total = time.perf_counter() - start
        if proc.returncode:
            return "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:60]
        with np.load(root / "out.npz") as out:
            return float(out["seconds"][1]), total


def measure(name: str, model: nn.Module, batch: int, lava_batch: int, repeat: int) -> list[list[object]]:
    x = inputs(name, model, batch)
    fixed = snncompile.compile(model, "loihi", options={"calibration": x}).graph
    lowered = snncompile.compile(model, "sim").graph
    latency = int(fixed.metadata["loihi"]["latency"])
    t = model.timesteps
    rows = []

    def add(engine: str, n: int, seconds: float, steps: int) -> None:
        rows.append([name, engine, n, f"{seconds:.3f}", f"{n / seconds:.3g}", f"{n * steps / seconds:.3g}"])

    xf = torch.from_numpy(x).float()
    with torch.no_grad():
        add("PyTorch float32 forward", batch, best_of(lambda: model.float()(xf), repeat), t)
    add("snncompile float sim (lowered IR, float64)", batch,
        best_of(lambda: simulate(lowered, x, record="outputs"), repeat), t)
    add("snncompile bit-exact sim", batch, best_of(lambda: simulate_loihi(fixed, x, record="outputs"), repeat),
        t + latency)
    xs = np.ascontiguousarray(x[:, :lava_batch])
    add("snncompile bit-exact sim", lava_batch,
        best_of(lambda: simulate_loihi(fixed, xs, record="outputs"), repeat), t + latency)
    lava = lava_seconds(fixed, xs)
    if isinstance(lava, str):
        rows.append([name, "Lava fixed_pt (netx)", lava_batch, lava, "", ""])
    else:
        steps = lava_batch * t + latency  # samples streamed back to back
        for engine, seconds in (("Lava fixed_pt run only", lava[0]), ("Lava end to end (start, build, read)", lava[1])):
            rows.append([name, engine, lava_batch, f"{seconds:.3f}", f"{lava_batch / seconds:.3g}",
                         f"{steps / seconds:.3g}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nets", nargs="*", default=["dense256", "tdbn_resnet", "mlf_dsresnet"])
    parser.add_argument("--batch", type=int, default=128, help="samples per simulator run")
    parser.add_argument("--lava-batch", type=int, default=8, help="samples streamed through Lava (slow)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per simulator measurement (best reported)")
    parser.add_argument("--out", help="also write the markdown block to this file")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    for name in args.nets:
        model = dense256() if name == "dense256" else snncompile.load(EXAMPLES / f"{name}.pt")
        rows += measure(name, model, args.batch, args.lava_batch, args.repeat)
    header = ["network", "engine", "samples", "seconds", "samples/s", "steps/s"]
    note = ("steps/s counts one network timestep of one sample: T per sample for PyTorch and the float simulator, "
            "T + latency for the bit-exact simulator (it runs every sample through the pipeline), B·T + latency for "
            "Lava (samples streamed back to back). Simulators: best of the repeats; Lava: one run. "
            f"Load average at the end: {os.getloadavg()[0]:.1f}.")
    emit("Simulator throughput", table(header, rows) + "\n\n" + note, args.out)


if __name__ == "__main__":
    main()
