"""verify --workers: the stages run on the samples in one process vs in 2 worker processes, side by side."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from benchmarks.common import EXAMPLES, emit, table
from snncompile.verification import data as verify_data
from snncompile.verification.core import run_verification
from snncompile.verification.data import load_data
from snncompile.verification.plugins import compile_for_verify
from snncompile.verification.shard import Executor, Processes

MODELS = ("s2nn_mlp", "tdbn_resnet", "mlf_dsresnet")


def _strip(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("seconds", "execution")}


def measure(name: str, samples: int | None, batch: int | None, workers: int, repeat: int) -> list[object]:
    """Compile once, then time run_verification (every stage on every sample, the checks, no Lava) in this
    process and with `workers` processes (spawn and import included); best of `repeat` each."""
    path = EXAMPLES / f"{name}.pt"
    verify_data.CALIBRATION_SAMPLES = 64
    from snncompile.api import load
    from snncompile.verification.core import _model_and_shape

    _module, shape, steps, classes = _model_and_shape(path, None, None, False, None)
    vdata = load_data("digits", shape, steps, classes).head(samples)
    compiled = compile_for_verify(load(path), "loihi", vdata)
    reports, times = {}, {}
    threads = torch.get_num_threads()
    runs: list[tuple[str, Callable[[], Executor | None], int]] = [
        ("1", lambda: None, threads), ("1x1", lambda: None, 1), ("N", lambda: Processes(workers), threads)]
    for label, make, parent_threads in runs:
        best = float("inf")
        torch.set_num_threads(parent_threads)
        for _ in range(repeat):
            executor = make()
            start = time.perf_counter()
            report = run_verification(compiled, vdata, str(path), 0.0, batch=batch, tolerance=1.0, scheduled=False,
                                      lava=False, lava_samples=0, json_path=None, html_dir=None, progress=False,
                                      executor=executor)
            best = min(best, time.perf_counter() - start)
        torch.set_num_threads(threads)
        reports[label], times[label] = report, best
    same = all(_strip(reports["1"].to_json()) == _strip(r.to_json()) for r in reports.values())
    shards = reports["N"].execution.get("shards", 1)
    return [name, vdata.samples, int(steps), shards, times["1"], times["1x1"], times["N"], times["1"] / times["N"],
            "yes" if same else "NO"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--samples", type=int, default=None, help="digits test samples (default: all 450)")
    parser.add_argument("--batch", type=int, default=None, help="samples per chunk = per shard (default: by memory)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = [measure(m, args.samples, args.batch, args.workers, args.repeat) for m in args.models]
    w = args.workers
    body = table(["model", "samples", "T", "shards", f"1 process s ({torch.get_num_threads()} threads)",
                  "1 process s (1 thread)", f"{w} workers s", "speed-up", "same report"], rows)
    body += (f"\n\nWall time of run_verification after one compile (every stage on every digits test sample, the "
             f"checks; no Lava), best of {args.repeat}, in the order of the columns; the {w}-worker time includes "
             f"spawning the workers (each imports torch and snncompile, unpickles the model and graphs once and "
             f"runs torch with CPUs / {w} threads). speed-up: 1 process (default threads) / {w} workers. "
             "`same report`: the three JSON reports are equal but for timings and the execution record.")
    emit("verify: 1 process vs worker processes", body, args.out)


if __name__ == "__main__":
    main()
