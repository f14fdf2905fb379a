"""Run an emitted Loihi artifact in Lava (netx chain + skip synapses); needs only numpy, h5py and Lava, no torch.

Standalone on purpose (no snncompile imports): run it with a Lava interpreter as
    .venv-lava/bin/python snncompile/targets/loihi/lava_runtime.py JOBS.json
where JOBS.json lists {"artifact": DIR, "input": X.npy, "output": OUT.npz}. X is real-valued [T, B, ...];
its B samples are streamed back to back (B·T frames, then `latency` zero frames), which the netx reset
schedule (reset_interval = T) makes exact per sample. OUT holds layer{i}: spikes [B·T + latency, *shape]
(torch layout) for every chain layer, and `seconds` (build, run, read). The run goes one sample (T steps) at a
time, printing `snncompile-progress DONE TOTAL` after each.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import types
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np


def _rf_params(config: Any, scale: int = 1 << 6, p_scale: int = 1 << 12) -> dict[str, float]:
    """RF neuron parameters from netx device values (only RF layers need it): threshold = vThMant / 64,
    decay = 1 − |(sin, cos)| / 4096, period = 2π / atan2(sinDecay, cosDecay)."""
    sin_d, cos_d = config["sinDecay"] / p_scale, config["cosDecay"] / p_scale
    frequency = np.arctan2(sin_d, cos_d) / (2 * np.pi)
    return {"threshold": config["vThMant"] / scale, "period": 1 / frequency,
            "decay": 1 - np.sqrt(sin_d**2 + cos_d**2)}


def install_torch_free_netx() -> None:
    """Register placeholder modules so `lava.lib.dl.netx` imports without torch (docs/LOIHI.md 6.1).

    netx's hdf5 module imports one function from slayer's RF neuron (importing all of slayer, hence torch),
    and netx/__init__ imports a torch-based submodule. Placeholders stand in for both; each is marked as a
    package and points at a real file of the installed tree, since Lava's compiler calls inspect.getfile on
    modules it scans. Nothing happens when the real slayer is already imported.
    """
    if "lava.lib.dl.slayer" in sys.modules:
        return
    import lava.lib.dl as dl

    root = next(Path(p) for p in dl.__path__ if (Path(p) / "netx").is_dir())  # a namespace package
    names = {"lava.lib.dl.slayer": "slayer/__init__.py", "lava.lib.dl.slayer.neuron": "slayer/neuron/__init__.py",
             "lava.lib.dl.slayer.neuron.rf": "slayer/neuron/rf.py",
             "lava.lib.dl.netx.sequential_modules": "netx/sequential_modules.py"}
    for name, rel in names.items():
        module = types.ModuleType(name)
        module.__file__ = str(root / rel)
        module.__path__ = [str((root / rel).parent)]
        sys.modules[name] = module
    sys.modules["lava.lib.dl.slayer.neuron.rf"].neuron_params = _rf_params  # type: ignore[attr-defined]
    sys.modules["lava.lib.dl.slayer"].neuron = sys.modules["lava.lib.dl.slayer.neuron"]  # type: ignore[attr-defined]
    sys.modules["lava.lib.dl.slayer.neuron"].rf = sys.modules["lava.lib.dl.slayer.neuron.rf"]  # type: ignore[attr-defined]


PROGRESS = "snncompile-progress"
"""Stdout lines `snncompile-progress DONE TOTAL` (steps run so far): the caller shows them as a bar."""


def to_lava(x: np.ndarray) -> np.ndarray:
    """[steps, *torch_shape] -> [*lava_shape, steps]: time last, (C, H, W) reversed to (W, H, C)."""
    return np.moveaxis(x, 0, -1) if x.ndim == 2 else x.transpose(3, 2, 1, 0)


def from_lava(x: np.ndarray) -> np.ndarray:
    """Inverse of to_lava."""
    return np.moveaxis(x, -1, 0) if x.ndim == 2 else x.transpose(3, 2, 1, 0)


def encode(x: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    return np.clip(np.floor(np.asarray(x, np.float64) * spec["scale"] + 0.5), spec["low"], spec["high"])


def stream(x: np.ndarray, latency: int) -> np.ndarray:
    """[T, B, ...] -> [B·T + latency, ...]: samples back to back, then zero frames for the pipeline to drain."""
    t, b = x.shape[:2]
    frames = np.moveaxis(x, 1, 0).reshape(b * t, *x.shape[2:])
    return np.concatenate([frames, np.zeros((latency, *x.shape[2:]))])


def _flat(port: Any, rank: int) -> Any:
    """An out port in torch C-major flat order."""
    return port.transpose([2, 1, 0]).flatten() if rank == 3 else port


def conv_connections(s: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A conv skip record as (rows, cols, weights) of its synapses in flat torch C-major order, offsets applied:
    one entry per (output neuron, kernel tap) that reads a real input (padding taps dropped)."""
    w = np.asarray(s["weight"][()], np.float64)
    (sh, sw), (ph, pw), (dh, dw) = (tuple(int(v) for v in s[k][()]) for k in ("stride", "padding", "dilation"))
    groups = int(s["groups"][()])
    (ci, hi, wi), (co, ho, wo) = (tuple(int(v) for v in s[k][()]) for k in ("in_shape", "out_shape"))
    cig, per = ci // groups, co // groups
    o, y, x, i, ky, kx = np.meshgrid(np.arange(co), np.arange(ho), np.arange(wo), np.arange(cig),
                                     np.arange(w.shape[2]), np.arange(w.shape[3]), indexing="ij")
    iy, ix, c = y * sh - ph + ky * dh, x * sw - pw + kx * dw, (o // per) * cig + i
    valid = (iy >= 0) & (iy < hi) & (ix >= 0) & (ix < wi) & (w[o, i, ky, kx] != 0)
    rows = (o * ho + y) * wo + x
    cols = (c * hi + iy) * wi + ix
    return (rows[valid] + int(s["dst_offset"][()]), cols[valid] + int(s["src_offset"][()]), w[o, i, ky, kx][valid])


DENSE_SKIP_LIMIT = 1 << 22
"""A conv skip whose N_out x N_in matrix has at most this many entries runs in Lava as a DelayDense built from its
synapses: Lava's DelaySparse is several times slower to run (tdbn_resnet's 8 samples: 13.5 s against 3.2 s), the
dense form of a small skip costs little memory, and both have the same fixed_pt semantics. Larger skips
(ResNet-19: 16384 x 16384) stay DelaySparse. A job may set "dense_skip_limit" (the tests force the sparse path)."""


def _add_skips(f: h5py.File, man: dict[str, Any], net: Any, source: Any, dense_limit: int = DENSE_SKIP_LIMIT
               ) -> list[Any]:
    from lava.proc.dense.process import DelayDense
    from lava.proc.sparse.process import DelaySparse
    from scipy.sparse import csr_matrix

    shapes = {0: tuple(f["layer/0/shape"][()]), **{la["index"]: tuple(la["shape"]) for la in man["layers"]}}
    procs = []
    for k in sorted(f.get("snncompile/skip", {}), key=int):
        s = f[f"snncompile/skip/{k}"]
        src, dst = int(s["src"][()]), int(s["dst"][()])
        bits = man["netx"]["input_message_bits"] if src == 0 else 0
        delay = int(s["delay"][()])
        size = (int(np.prod(shapes[dst])), int(np.prod(shapes[src])))
        if "type" in s and s["type"][()][0] == b"conv":  # synapse by synapse; the N x N matrix only when small
            rows, cols, vals = conv_connections(s)
            if size[0] * size[1] <= dense_limit:
                w = np.zeros(size)
                np.add.at(w, (rows, cols), vals)
                proc = DelayDense(weights=w.astype(int), delays=delay, max_delay=delay, num_message_bits=bits)
            else:
                sparse = csr_matrix((vals.astype(int), (rows, cols)), shape=size)
                proc = DelaySparse(weights=sparse, delays=delay, max_delay=delay, num_message_bits=bits)
        else:
            block = np.asarray(s["weight"][()], np.float64)
            w = np.zeros(size)
            r, c = int(s["dst_offset"][()]), int(s["src_offset"][()])
            w[r:r + block.shape[0], c:c + block.shape[1]] = block
            proc = DelayDense(weights=w.astype(int), delays=delay, max_delay=delay, num_message_bits=bits)
        out = source.s_out if src == 0 else net.layers[src - 1].out
        _flat(out, len(shapes[src])).connect(proc.s_in)
        port = proc.a_out if len(shapes[dst]) == 1 else proc.a_out.reshape(shapes[dst]).transpose([2, 1, 0])
        port.connect(net.layers[dst - 1].neuron.a_in)
        procs.append(proc)
    return procs


def run_artifact(directory: Path, x: np.ndarray, dense_skip_limit: int = DENSE_SKIP_LIMIT
                 ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Run real-valued input x [T, B, ...] streamed through the artifact in Lava; every layer's spikes."""
    install_torch_free_netx()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    man = json.loads((directory / "manifest.json").read_text())
    with h5py.File(directory / man["network"], "r") as f:
        input_shape = tuple(int(v) for v in f["layer/0/shape"][()])
    if len(input_shape) == 1 and x.ndim > 3:  # the emitter declared an image input flat (see emit.py)
        x = x.reshape(*x.shape[:2], -1)
    data = stream(encode(x, man["input"]), man["latency"])
    steps = data.shape[0]
    start = time.perf_counter()
    net = netx.hdf5.Network(net_config=str(directory / man["network"]), num_layers=man["netx"].get("num_layers"),
                            reset_interval=man["netx"]["reset_interval"], reset_offset=1,
                            input_message_bits=man["netx"]["input_message_bits"])
    source = io.source.RingBuffer(data=to_lava(data).astype(int))
    source.s_out.connect(net.inp)
    with h5py.File(directory / man["network"], "r") as f:
        skips = _add_skips(f, man, net, source, dense_skip_limit)
    sinks = []
    for block in net.layers:
        sink = io.sink.RingBuffer(shape=block.out.shape, buffer=steps)
        block.out.connect(sink.a_in)
        sinks.append(sink)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt")
    net.create_runtime(run_cfg=run_cfg)
    built = time.perf_counter()
    per_sample = int(x.shape[0])
    done = 0
    for n in [per_sample] * int(x.shape[1]) + [steps - per_sample * int(x.shape[1])]:  # then the pipeline drains
        if n:
            net.run(condition=RunSteps(num_steps=n), run_cfg=run_cfg)
            done += n
            print(f"{PROGRESS} {done} {steps}", flush=True)
    ran = time.perf_counter()
    out = {f"layer{i}": from_lava(s.data.get()).astype(np.int8) for i, s in enumerate(sinks, start=1)}
    net.stop()
    sparse = sum(type(p).__name__ == "DelaySparse" for p in skips)
    del skips
    times = {"build": built - start, "run": ran - built, "read": time.perf_counter() - ran, "steps": steps,
             "sparse_skips": sparse}
    return out, times


def exit_with_parent(poll_s: float = 1.0) -> None:
    """When this run leads its own process group (snncompile starts it so) and the process that started it dies
    without cleaning up (killed with SIGKILL), kill the group: Lava forks a process per layer, which would
    otherwise run on as orphans."""
    if os.getpgrp() != os.getpid():
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")
    exit_with_parent()
    jobs = json.loads(Path(argv[1]).read_text())
    for job in jobs:
        spikes, times = run_artifact(Path(job["artifact"]), np.load(job["input"]),
                                     int(job.get("dense_skip_limit", DENSE_SKIP_LIMIT)))
        seconds = np.array([times[k] for k in ("build", "run", "read")])
        np.savez_compressed(job["output"], **spikes, seconds=seconds, sparse_skips=np.array(times["sparse_skips"]))  # type: ignore[arg-type]  # numpy stub: **kwds checked against allow_pickle: bool
        print(f"{job['artifact']}: {times['steps']} steps, build {times['build']:.2f}s run {times['run']:.2f}s "
              f"read {times['read']:.2f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
