"""Compile time against depth: spiking ResNet-20/56/104 (tdBN) compiled for the sim and loihi targets."""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import snncompile
from benchmarks.common import depth, emit, resnet, table
from snncompile.verification.data import encode

BLOCKS = (3, 9, 17)
"""Blocks per stage of ResNet-20, -56 and -104 (6n + 2 layers)."""


def timed_compile(model: torch.nn.Module, target: str, repeat: int,
                  options: dict[str, object] | None = None) -> tuple[float, dict[str, float], object]:
    """Median wall time of `repeat` compiles, and the slowest passes of the last one."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = snncompile.compile(model, target, options=options, check=False)  # the compile alone
        times.append(time.perf_counter() - start)
    passes = {r.name: r.seconds for r in result.records}  # type: ignore[union-attr]
    return float(np.median(times)), passes, result


def row(n: int, repeat: int, calibration: int) -> list[object]:
    model = resnet(n)
    start = time.perf_counter()
    graph = snncompile.trace(model)
    trace_s = time.perf_counter() - start
    sim_s, _, _ = timed_compile(model, "sim", repeat)
    cal = encode(np.random.default_rng(0).random((calibration, 1, 8, 8)), 4) if calibration else None
    loihi_s, passes, result = timed_compile(model, "loihi", repeat, {"calibration": cal})
    slowest = max(passes, key=passes.get)  # type: ignore[arg-type]
    meta = result.graph.metadata["loihi"]  # type: ignore[union-attr]
    neurons = result.report["resources"]["totals"]["neurons"]  # type: ignore[union-attr]
    return [f"ResNet-{depth(model)}", len(graph), neurons, f"{trace_s:.2f}", f"{sim_s:.2f}", f"{loihi_s:.2f}",
            f"{slowest} {passes[slowest]:.2f}", meta["latency"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="compiles per target and depth (median reported)")
    parser.add_argument("--calibration", type=int, default=0, help="calibration images for loihi (0: none)")
    parser.add_argument("--blocks", type=int, nargs="*", default=list(BLOCKS))
    parser.add_argument("--out", help="also write the markdown block to this file")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = [row(n, args.repeat, args.calibration) for n in args.blocks]
    header = ["network", "IR nodes", "neurons", "trace s", "compile sim s", "compile loihi s",
              "slowest loihi pass (s)", "Loihi latency (steps)"]
    note = (f"Median of {args.repeat} compiles (wall time, including trace and the IR verifier after every pass); "
            f"1x8x8 input, T = 4, channels 8/16/32; loihi calibration images: {args.calibration}.")
    emit("Compile time against depth", table(header, rows) + "\n\n" + note, args.out)


if __name__ == "__main__":
    main()
