"""The papers' real networks (issue 13): compile time and peak memory per target with the default check, one
subprocess per (network, target); artifact size, Loihi cores/chips, and the simulator against PyTorch."""

from __future__ import annotations

import argparse
import gc
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


def _watchdog(limit_gib: float, progress: str | None) -> None:
    """Exit the measuring subprocess (code 9) once its RSS passes the limit, so a runaway never swaps the machine;
    every second, write the peak RSS so far to `progress` (read when the measurement runs out of time)."""
    page = os.sysconf("SC_PAGE_SIZE")
    tick = 0
    while True:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * page
        if rss > limit_gib * GIB:
            print(json.dumps({"error": f"over {limit_gib} GiB RSS"}), flush=True)
            os._exit(9)
        tick += 1
        if progress and tick % 20 == 0:
            Path(progress).write_text(f"{_hwm_gib():.3f}")
        time.sleep(0.05)


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # ru_maxrss is in KiB on Linux


def _reset_peak() -> None:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def _hwm_gib() -> float:
    """Peak RSS since the last _reset_peak() (VmHWM, KiB)."""
    line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024 / GIB


def measure(name: str, target: str, samples: int, max_chips: int | None = None) -> dict[str, Any]:
    """In this process: build `name`, compile it for `target` into a temporary directory with the default check
    (`samples` random inputs, as the CLI's --check); the check's report gives the mismatch counts."""
    import torch

    import snncompile
    from benchmarks.scale_nets import build

    torch.set_num_threads(2)
    model = build(name)
    built = _peak_gib()
    gc.collect()
    _reset_peak()  # the compile's own peak below: the model build (a train-mode pass) is not part of it
    options = {"max_chips": max_chips} if max_chips is not None and target in ("loihi", "onnx-loihi") else None
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        try:
            result = snncompile.compile(model, target, Path(tmp) / "out", options=options, check_samples=samples)
        except snncompile.CompileError as e:
            codes = sorted({d.code for d in e.diagnostics})
            return {"network": name, "target": target, "refused": ", ".join(codes), "compile_s":
                    time.perf_counter() - start, "peak_gib": _hwm_gib(), "message": str(e)[:300]}
        compiled = time.perf_counter()
        size = sum(f.stat().st_size for f in (Path(tmp) / "out").rglob("*") if f.is_file())
    report = result.check.report
    totals = result.report["resources"]["totals"]
    return {"network": name, "target": target, "compile_s": compiled - start, "peak_gib": _hwm_gib(),
            "model_gib": built, "artifact_mib": size / 2**20, "max_chips": max_chips,
            "cores": totals.get("cores"), "chips": totals.get("chips"), "neurons": totals.get("neurons"),
            "decisions": sum(r.decisions for r in report.layers),
            "model_vs_ir": sum(max(r.model_vs_traced, 0) for r in report.layers),
            "unmatched_layers": sum(r.model_vs_traced < 0 for r in report.layers),
            "ir_vs_compiled": sum(r.traced_vs_compiled or 0 for r in report.layers),
            "readout_error": report.readout_model_vs_compiled, "exact": report.exact,
            "load": os.getloadavg()[0]}


def run_one(name: str, target: str, samples: int, limit_gib: float, timeout: float,
            max_chips: int | None = None) -> dict[str, Any]:
    """measure() in a fresh interpreter, so that each peak RSS is its own."""
    progress = Path(tempfile.gettempdir()) / f"bench_scale_{os.getpid()}.peak"
    progress.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.bench_scale", "--one", name, target, "--samples", str(samples),
           "--limit-gib", str(limit_gib), "--progress", str(progress)] + \
        ([] if max_chips is None else ["--loihi-max-chips", str(max_chips)])
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        peak = f", peak RSS so far {float(progress.read_text()):.2f} GiB" if progress.exists() else ""
        return {"network": name, "target": target, "max_chips": max_chips,
                "error": f"over {timeout:.0f} s (load {os.getloadavg()[0]:.0f}){peak}"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"network": name, "target": target, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return {"network": name, "target": target, **json.loads(lines[-1])}


def verify_resnet19(samples: int, max_chips: int | None) -> dict[str, Any]:
    """`snncompile verify MODEL.pt --target loihi --data random --samples N --no-lava` on the tdBN ResNet-19,
    saved to a temporary .pt first, under /usr/bin/time -v: wall time and peak RSS of the whole CLI process."""
    import torch

    from benchmarks.scale_nets import build

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet19.pt"
        torch.save(build("tdbn-resnet19"), path)
        cmd = ["/usr/bin/time", "-v", sys.executable, "-c", "from snncompile.cli import main; main()", "verify",
               str(path), "--trust-pickle", "--target", "loihi", "--data", "random", "--samples", str(samples),
               "--no-lava", "--json", str(Path(tmp) / "verify.json")]
        if max_chips is not None:
            cmd += ["--loihi-max-chips", str(max_chips)]
        start = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
    rss = next((int(ln.split(":")[1]) for ln in proc.stderr.splitlines() if "Maximum resident set size" in ln), 0)
    return {"command": " ".join(["snncompile verify resnet19.pt", *cmd[7:]]), "exit": proc.returncode,
            "wall_s": wall, "peak_gib": rss * 1024 / GIB, "load": os.getloadavg()[0],
            "tail": proc.stdout.strip().splitlines()[-12:] + proc.stderr.strip().splitlines()[-3:]}


def row(r: dict[str, Any]) -> list[object]:
    chips = f" (max_chips {r['max_chips']})" if r.get("max_chips") else ""
    if "error" in r:
        return [r["network"], r["target"] + chips, "failed: " + r["error"], "", "", "", "", ""]
    if "refused" in r:
        return [r["network"], r["target"] + chips, f"refused: {r['refused']} after {r['compile_s']:.1f}",
                f"{r['peak_gib']:.2f}", "", "", "", ""]
    cores = f"{r['cores']} / {r['chips']}" if r["target"] in ("loihi", "onnx-loihi") else ""
    if r["target"] in ("loihi", "onnx-loihi"):
        agree = f"{r['model_vs_ir']} / quantized: {r['ir_vs_compiled']} of {r['decisions']}"
    else:
        agree = f"{r['model_vs_ir']} / {r['ir_vs_compiled']} of {r['decisions']}" + \
            (f" ({r['unmatched_layers']} layers unmatched)" if r["unmatched_layers"] else "")
    return [r["network"], r["target"] + chips, f"{r['compile_s']:.1f}", f"{r['peak_gib']:.2f}",
            f"{r['artifact_mib']:.1f}", cores, agree, f"{r['readout_error']:.2g}"]


HEADER = ["network", "target", "compile + check s", "peak RSS GiB", "artifact MiB", "Loihi 2 cores / chips",
          "spike decisions ≠: PyTorch vs sim / sim vs compiled", "readout max abs err"]


def main() -> None:
    from benchmarks.scale_nets import NETWORKS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--networks", nargs="*", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--samples", type=int, default=4, help="random inputs of the check (the CLI default: 4)")
    parser.add_argument("--limit-gib", type=float, default=6.0, help="a measurement over this RSS is stopped")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per measurement")
    parser.add_argument("--loihi-max-chips", type=int, default=None,
                        help="LoihiOptions.max_chips for loihi and onnx-loihi (default: the target's, 8)")
    parser.add_argument("--verify", type=int, metavar="SAMPLES", default=None,
                        help="instead: time `snncompile verify` of the tdBN ResNet-19 on Loihi with SAMPLES random "
                             "inputs")
    parser.add_argument("--one", nargs=2, metavar=("NETWORK", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--progress", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="append every measurement as a JSON line to this file")
    parser.add_argument("--out", help="also write the markdown block to this file")
    args = parser.parse_args()
    if args.one:
        threading.Thread(target=_watchdog, args=(args.limit_gib, args.progress), daemon=True).start()
        print(json.dumps(measure(*args.one, args.samples, args.loihi_max_chips)), flush=True)
        return
    if args.verify is not None:
        r = verify_resnet19(args.verify, args.loihi_max_chips)
        print(json.dumps(r), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"verify": True, **r}) + "\n")
        return
    rows = []
    for name in args.networks:  # one at a time: the machine is shared
        for target in args.targets:
            r = run_one(name, target, args.samples, args.limit_gib, args.timeout, args.loihi_max_chips)
            print(json.dumps(r), file=sys.stderr, flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(r) + "\n")
            rows.append(row(r))
    note = (f"Each row from its own subprocess: build the network (random weights, normalization statistics "
            f"from one train-mode pass), then `snncompile.compile(model, target, dir)` with the default check "
            f"({args.samples} random inputs, float64: PyTorch vs traced vs compiled IR, every neuron layer, all T "
            f"steps); the time is compile + check. Peak RSS is the subprocess's VmHWM, reset after the model is "
            f"built (the "
            f"model itself stays resident and is included; the build's train-mode pass is not).")
    emit("The papers' networks: compile with the default check", table(HEADER, rows) + "\n\n" + note, args.out)


if __name__ == "__main__":
    main()
