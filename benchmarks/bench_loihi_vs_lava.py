"""Lava (Loihi2SimCfg, fixed_pt) vs snncompile's bit-exact simulator on the same emitted networks: steps per second.

    .venv/bin/python benchmarks/bench_loihi_vs_lava.py [--batch 16] [--repeats 5] [--no-lava]

Networks: 3 dense layers of 256 (input 256, T = 100) and a small conv net (T = 100), binary input spikes.
Single sample: one sample, T + L steps. Batched: B samples; the simulator runs them side by side, Lava streams
them back to back (B·T + L steps, netx's reset schedule separates them). Lava times are `net.run` only
(build/compile and reading the sinks are reported separately); simulator times are the whole
simulate_loihi call, recording every layer. Both produce identical spikes, which the script checks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from snncompile import ir
from snncompile.passes import PassContext
from snncompile.targets.loihi import LOIHI, simulate_loihi, testnets
from snncompile.targets.loihi.artifact import simulate_artifact
from snncompile.targets.loihi.emit import emit_loihi
from snncompile.targets.loihi.lava_runtime import stream

ROOT = Path(__file__).resolve().parents[1]
LAVA = ROOT / ".venv-lava" / "bin" / "python"
RUNTIME = ROOT / "snncompile" / "targets" / "loihi" / "lava_runtime.py"
T = 100


def conv_net() -> ir.Graph:
    b = testnets.Builder((2, 16, 16), seed=9, timesteps=T)
    a = b.lif("conv1", [b.conv("conv1.syn", "input", 8, 3, gain=3.0, bias=0.1)])
    a = b.lif("conv2", [b.conv("conv2.syn", a, 16, 3, stride=(2, 2), gain=3.0)])
    a = b.lif("pool", [b.pool("pool.syn", a, 2, "sum")], theta=0.5)
    return b.readout(b.lif("fc", [b.dense("fc.syn", a, 10, gain=3.0)]))


def networks() -> dict[str, ir.Graph]:
    dense = testnets.dense_chain((256, 256, 256, 256), timesteps=T, gain=2.0, bias=0.1)
    return {"dense 3x256": dense, "conv": conv_net()}


def compile_fixed(graph: ir.Graph) -> ir.Graph:
    return LOIHI.with_options(input_encoding="binary").pipeline().run(graph, PassContext())[0]


def spikes_in(graph: ir.Graph, batch: int, seed: int = 0) -> np.ndarray:
    (inp,) = graph.of_kind(ir.Input)
    return (np.random.default_rng(seed).random((T, batch, *inp.shape)) < 0.3).astype(float)


def time_simulator(q: ir.Graph, x: np.ndarray, repeats: int) -> float:
    simulate_loihi(q, x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        simulate_loihi(q, x)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_lava(jobs: list[dict[str, str]], workdir: Path) -> None:
    (workdir / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run([str(LAVA), str(RUNTIME), str(workdir / "jobs.json")], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-lava", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the simulator")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="bench-loihi-"))
    rows, jobs = [], []
    for name, graph in networks().items():
        q = compile_fixed(graph)
        latency = q.metadata["loihi"]["latency"]
        out = workdir / name.replace(" ", "_")
        out.mkdir()
        emit_loihi(q, out)
        for batch in (1, args.batch):
            x = spikes_in(graph, batch)
            np.save(out / f"x{batch}.npy", x)
            seconds = time_simulator(q, x, args.repeats)
            steps = T + latency
            rows.append({"net": name, "batch": batch, "sim_s": seconds, "sim_steps": steps, "artifact": out, "x": x,
                         "lava": out / f"lava{batch}.npz", "stream_steps": batch * T + latency})
            jobs.append({"artifact": str(out), "input": str(out / f"x{batch}.npy"),
                         "output": str(out / f"lava{batch}.npz")})
    if not args.no_lava:
        run_lava(jobs, workdir)
    report(rows, lava=not args.no_lava)


def report(rows: list[dict[str, object]], lava: bool) -> None:
    print(f"{'network':12s} {'B':>3s} | {'simulator steps/s':>18s} {'sample-steps/s':>15s} | "
          f"{'Lava steps/s':>12s} {'(incl. build+read)':>18s} | {'speed-up per sample':>19s}  spikes")
    for r in rows:
        sim_rate = r["sim_steps"] / r["sim_s"]  # type: ignore[operator]
        sample_rate = sim_rate * r["batch"]  # type: ignore[operator]
        line = f"{r['net']:12s} {r['batch']:3d} | {sim_rate:18.0f} {sample_rate:15.0f} | "
        if lava:
            with np.load(r["lava"]) as data:  # type: ignore[arg-type]
                build, run, read = data["seconds"]
                lava_spikes = {k: data[k] for k in data.files if k.startswith("layer")}
            lava_rate = r["stream_steps"] / run  # type: ignore[operator]
            total_rate = r["stream_steps"] / (build + run + read)  # type: ignore[operator]
            _, sim = simulate_artifact(r["artifact"], stream(r["x"], 0)[:, None])  # type: ignore[arg-type]
            same = all(np.array_equal(v, sim[k][:, 0]) for k, v in lava_spikes.items())
            line += f"{lava_rate:12.0f} {total_rate:18.0f} | {sample_rate / lava_rate:18.0f}x  " \
                    f"{'identical' if same else 'DIFFERENT'}"
        print(line)


if __name__ == "__main__":
    main()
