"""The papers' real networks (issue 13): compile time and peak memory per target with the default check, one
subprocess per (network, target); artifact size, Loihi cores/chips, and the simulator against PyTorch."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, emit, table

TARGETS = ("sim", "loihi", "nir", "onnx", "onnx-loihi")
GIB = 2**30


def _watchdog(limit_gib: float) -> None:
    """Exit the measuring subprocess (code 9) once its RSS passes the limit, so a runaway never swaps the machine."""
    page = os.sysconf("SC_PAGE_SIZE")
    while True:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * page
        if rss > limit_gib * GIB:
            print(json.dumps({"error": f"over {limit_gib} GiB RSS"}), flush=True)
            os._exit(9)
        time.sleep(0.05)


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # ru_maxrss is in KiB on Linux


def measure(name: str, target: str, samples: int) -> dict[str, Any]:
    """In this process: build `name`, compile it for `target` into a temporary directory, run the default check."""
    import torch

    import snncompile
    from benchmarks.scale_nets import build
    from snncompile.verification.check import check_compile, random_input

    torch.set_num_threads(2)
    model = build(name)
    built = _peak_gib()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = snncompile.compile(model, target, Path(tmp) / "out")
        compiled = time.perf_counter()
        graph = result.graph
        if "loihi" in graph.metadata:  # as the CLI check: the integer dynamics without the pipeline
            from snncompile.targets.loihi.numerics import compact

            graph = compact(graph)
        report = check_compile(model, result.traced, graph, random_input(result.traced, samples))
        checked = time.perf_counter()
        size = sum(f.stat().st_size for f in (Path(tmp) / "out").rglob("*") if f.is_file())
    totals = result.report["resources"]["totals"]
    return {"network": name, "target": target, "compile_s": compiled - start, "check_s": checked - compiled,
            "peak_gib": _peak_gib(), "model_gib": built, "artifact_mib": size / 2**20,
            "cores": totals.get("cores"), "chips": totals.get("chips"), "neurons": totals.get("neurons"),
            "decisions": sum(r.decisions for r in report.layers),
            "model_vs_ir": sum(max(r.model_vs_traced, 0) for r in report.layers),
            "unmatched_layers": sum(r.model_vs_traced < 0 for r in report.layers),
            "ir_vs_compiled": sum(r.traced_vs_compiled or 0 for r in report.layers),
            "readout_error": report.readout_model_vs_compiled, "exact": report.exact}


def run_one(name: str, target: str, samples: int, limit_gib: float, timeout: float) -> dict[str, Any]:
    """measure() in a fresh interpreter, so that each peak RSS is its own."""
    cmd = [sys.executable, "-m", "benchmarks.bench_scale", "--one", name, target, "--samples", str(samples),
           "--limit-gib", str(limit_gib)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        return {"network": name, "target": target, "error": f"over {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"network": name, "target": target, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return {"network": name, "target": target, **json.loads(lines[-1])}


def row(r: dict[str, Any]) -> list[object]:
    if "error" in r:
        return [r["network"], r["target"], "failed: " + r["error"], "", "", "", "", ""]
    chips = f"{r['cores']} / {r['chips']}" if r["target"] in ("loihi", "onnx-loihi") else ""
    if r["target"] in ("loihi", "onnx-loihi"):
        agree = f"quantized: {r['ir_vs_compiled']} of {r['decisions']} differ"
    else:
        agree = f"{r['model_vs_ir'] + r['ir_vs_compiled']} of {r['decisions']}" + \
            (f" ({r['unmatched_layers']} layers unmatched)" if r["unmatched_layers"] else "")
    return [r["network"], r["target"], f"{r['compile_s']:.1f} + {r['check_s']:.1f}", f"{r['peak_gib']:.2f}",
            f"{r['artifact_mib']:.1f}", chips, agree, f"{r['readout_error']:.2g}"]


def main() -> None:
    from benchmarks.scale_nets import NETWORKS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--networks", nargs="*", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--samples", type=int, default=4, help="random inputs of the check (the CLI default: 4)")
    parser.add_argument("--limit-gib", type=float, default=6.0, help="a measurement over this RSS is stopped")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per measurement")
    parser.add_argument("--one", nargs=2, metavar=("NETWORK", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help="also write the markdown block to this file")
    args = parser.parse_args()
    if args.one:
        threading.Thread(target=_watchdog, args=(args.limit_gib,), daemon=True).start()
        print(json.dumps(measure(*args.one, args.samples)), flush=True)
        return
    rows = []
    for name in args.networks:  # one at a time: the machine is shared
        for target in args.targets:
            r = run_one(name, target, args.samples, args.limit_gib, args.timeout)
            print(json.dumps(r), file=sys.stderr, flush=True)
            rows.append(row(r))
    header = ["network", "target", "compile + check s", "peak RSS GiB", "artifact MiB", "Loihi 2 cores / chips",
              "spike decisions ≠ (model vs sim vs compiled)", "readout max abs err"]
    note = (f"Each cell pair from its own subprocess: build the network (random weights, normalization statistics "
            f"from one train-mode pass), `snncompile.compile(model, target, dir)`, then the CLI's default check "
            f"({args.samples} random inputs, chunks of <= 384 MiB, float64: PyTorch vs traced vs compiled IR, every "
            f"neuron layer, all T steps). Peak RSS is the subprocess's ru_maxrss (model build included).")
    emit("The papers' networks: compile with the default check", table(header, rows) + "\n\n" + note, args.out)


if __name__ == "__main__":
    main()
