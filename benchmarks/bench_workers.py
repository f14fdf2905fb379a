"""verify --workers: the stages run on the samples in one process vs in 2 worker processes, side by side."""

from __future__ import annotations

import argparse
import time
from typing import Any

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
    for label, make in (("1", lambda: None), (str(workers), lambda: Processes(workers))):
        best = float("inf")
        for _ in range(repeat):
            executor: Executor | None = make()
            start = time.perf_counter()
            report = run_verification(compiled, vdata, str(path), 0.0, batch=batch, tolerance=0.01, scheduled=False,
                                      lava=False, lava_samples=0, json_path=None, html_dir=None, progress=False,
                                      executor=executor)
            best = min(best, time.perf_counter() - start)
        reports[label], times[label] = report, best
    one, many = reports["1"], reports[str(workers)]
    same = _strip(one.to_json()) == _strip(many.to_json())
    shards = many.execution.get("shards", 1)
    return [name, vdata.samples, int(steps), shards, times["1"], times[str(workers)],
            times["1"] / times[str(workers)], "yes" if same else "NO"]


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
    body = table(["model", "samples", "T", "shards", "1 process s", f"{w} workers s", "speed-up", "same report"], rows)
    body += (f"\n\nWall time of run_verification after one compile (every stage on every digits test sample, the "
             f"checks; no Lava), best of {args.repeat}; the {w}-worker time includes spawning the workers (each "
             "imports torch and snncompile and unpickles the model and graphs once). `same report`: the JSON "
             "reports are equal but for timings and the execution record.")
    emit("verify: 1 process vs worker processes", body, args.out)


if __name__ == "__main__":
    main()
