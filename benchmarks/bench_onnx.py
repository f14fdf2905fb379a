"""ONNX step models: size, export time and onnxruntime throughput against the simulators they reproduce."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import onnx
import torch

import snncompile
from benchmarks.bench_throughput import best_of
from benchmarks.common import EXAMPLES, emit, table
from snncompile.datasets import digits_split
from snncompile.sim import simulate
from snncompile.targets.loihi import simulate_loihi
from snncompile.targets.onnx.driver import run_onnx
from snncompile.targets.onnx.export import export_step
from snncompile.targets.onnx.fixed_export import export_fixed_step
from snncompile.verification.data import encode


def measure(name: str, samples: int, repeat: int) -> list[list[object]]:
    model = snncompile.load(EXAMPLES / f"{name}.pt")
    x = encode(digits_split()[2][:samples], model.timesteps)
    lowered = snncompile.compile(model, "sim").graph
    fixed = snncompile.compile(model, "loihi", options={"calibration": x}).graph
    rows = []
    for kind, graph, export, reference, simulator in (
        ("float", lowered, export_step, "float sim (float64)", lambda: simulate(lowered, x, record="outputs")),
        ("integer", fixed, export_fixed_step, "bit-exact sim, unpipelined",
         lambda: simulate_loihi(fixed, x, record="outputs", pipelined=False)),
    ):
        start = time.perf_counter()
        proto = export(graph)
        export_s = time.perf_counter() - start
        size = len(proto.SerializeToString())
        onnx_s = best_of(lambda proto=proto: run_onnx(proto, x), repeat)
        sim_s = best_of(simulator, repeat)
        identical = _identical(graph, proto, x, kind)
        rows.append([name, kind, f"{size / 2**20:.2f}", f"{export_s:.2f}", f"{samples / onnx_s:.3g}", reference,
                     f"{samples / sim_s:.3g}", f"{onnx_s / sim_s:.2f}", identical])
    return rows


def _identical(graph: snncompile.ir.Graph, proto: onnx.ModelProto, x: np.ndarray, kind: str) -> str:
    """How many neuron outputs of the ONNX run equal the simulator's (every population, every step)."""
    got = run_onnx(proto, x)
    ref = simulate(graph, x) if kind == "float" else simulate_loihi(graph, x, pipelined=False)
    names = [n for n in got if n in ref.values and got[n].ndim > 2]
    same = sum(int(np.sum(got[n] == ref[n])) for n in names)
    total = sum(got[n].size for n in names)
    return f"{same}/{total}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nets", nargs="*", default=["s2nn_mlp", "mpbn_cnn", "tdbn_resnet", "mlf_dsresnet"])
    parser.add_argument("--samples", type=int, default=64, help="digits test images per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best reported)")
    parser.add_argument("--out", help="also write the markdown block to this file")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = [row for name in args.nets for row in measure(name, args.samples, args.repeat)]
    header = ["network", "step model", "MiB", "export s", "onnxruntime samples/s", "reference",
              "reference samples/s", "onnxruntime / reference time", "identical outputs"]
    note = ("onnxruntime runs the step model T times per batch (snncompile.targets.onnx.driver.run_onnx, one "
            "thread); the "
            "reference is the simulator the model must reproduce, on the same batch. Integer models reproduce "
            "simulate_loihi(graph, x, pipelined=False) (no pipeline latency). Best of the repeats. "
            f"Load average at the end: {os.getloadavg()[0]:.1f}.")
    emit("ONNX step models", table(header, rows) + "\n\n" + note, args.out)


if __name__ == "__main__":
    main()
