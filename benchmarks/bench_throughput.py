"""Simulator throughput: PyTorch float32 forward vs the float IR simulator vs the bit-exact simulator (CPU, and
CUDA when torch sees a GPU) vs Lava, on the shipped examples and on CIFAR-size ResNet-19 and a DVS-size conv net."""

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
from benchmarks.scale_nets import build
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


SCALE = {"resnet19": "tdbn-resnet19", "dvs": "dvs-convnet"}
"""Benchmark name -> benchmarks/scale_nets.py network (issue 13's published sizes, random weights)."""


def model_of(name: str) -> nn.Module:
    if name == "dense256":
        return dense256()
    if name in SCALE:
        return build(SCALE[name])
    return snncompile.load(EXAMPLES / f"{name}.pt")


def inputs(name: str, model: nn.Module, samples: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    if name == "dense256":
        return (rng.random((model.timesteps, samples, 256)) < 0.3).astype(np.float64)
    if name in SCALE:
        x = rng.random((model.timesteps, samples, *model.input_shape))
        return (x < 0.1).astype(np.float64) if name == "dvs" else x
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
    calibration = x[:, :8] if name in SCALE else x
    fixed = snncompile.compile(model, "loihi", check=False,
                               options={"calibration": calibration, "max_chips": 10_000}).graph
    lowered = snncompile.compile(model, "sim", check=False).graph
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
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    for device in devices:
        add(f"snncompile bit-exact sim, T steps ({device})", batch,
            best_of(lambda d=device: simulate_loihi(fixed, x, record="outputs", pipelined=False, device=d), repeat), t)
        add(f"snncompile bit-exact sim, pipelined T + L steps ({device})", batch,
            best_of(lambda d=device: simulate_loihi(fixed, x, record="outputs", device=d), repeat), t + latency)
    if lava_batch <= 0:
        return rows
    xs = np.ascontiguousarray(x[:, :lava_batch])
    add("snncompile bit-exact sim, pipelined T + L steps (cpu)", lava_batch,
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
    parser.add_argument("--nets", nargs="*", default=["dense256", "tdbn_resnet", "mlf_dsresnet", "resnet19", "dvs"])
    parser.add_argument("--batch", type=int, default=128, help="samples per simulator run (shipped examples)")
    parser.add_argument("--scale-batch", type=int, default=32, help="samples per run for resnet19 and dvs")
    parser.add_argument("--lava-batch", type=int, default=8, help="samples streamed through Lava (small nets only)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per simulator measurement (best reported)")
    parser.add_argument("--scale-repeat", type=int, default=1, help="the same for resnet19 and dvs")
    parser.add_argument("--out", help="also write the markdown block to this file")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    start_load = os.getloadavg()[0]
    for name in args.nets:
        big = name in SCALE
        new = measure(name, model_of(name), args.scale_batch if big else args.batch, 0 if big else args.lava_batch,
                      args.scale_repeat if big else args.repeat)
        rows += new
        print(table(["network", "engine", "samples", "seconds", "samples/s", "steps/s"], new), flush=True)
    header = ["network", "engine", "samples", "seconds", "samples/s", "steps/s"]
    note = ("steps/s counts one network timestep of one sample: T per sample for PyTorch, the float simulator and "
            "the bit-exact simulator with pipelined=False (the integer dynamics without the pipeline: the valid "
            "windows of the pipelined run, what the int ONNX model runs), T + latency L for the pipelined bit-exact "
            "simulator (every sample through the pipeline, what verify runs), B·T + L for Lava (samples streamed "
            "back to back). resnet19 is benchmarks/scale_nets.py's tdBN ResNet-19 (3x32x32, T = 4) and dvs its "
            "LIF conv net on 2x128x128 event frames (T = 4), random weights, compiled with max_chips raised. "
            "Simulators: best of the repeats; Lava: one run. "
            f"Load average: {start_load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
            "(2 cores shared with other engineers).")
    emit("Simulator throughput", table(header, rows) + "\n\n" + note, args.out)


if __name__ == "__main__":
    main()
