"""Read an emitted Loihi artifact back into a fixed-point graph, so the bit-exact simulator runs what was written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from snncompile import ir
from snncompile.errors import error
from snncompile.sim.interpreter import SimResult
from snncompile.targets.loihi.emit import MANIFEST
from snncompile.targets.loihi.netx_plan import ungroup
from snncompile.targets.loihi.numerics import simulate_loihi
from snncompile.targets.loihi.ops import Encode, LoihiLIF, SkipDense, WindowReadout

Nodes = list[ir.Op]


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise error("SNC402", f"{directory} has no {MANIFEST}", hint="compile with --target loihi first")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != "snncompile-loihi":
        raise error("SNC402", f"{path} is not an snncompile Loihi manifest", hint="compile with --target loihi")
    return manifest


def _embed(rows: int, cols: int, block: np.ndarray, row_off: int, col_off: int) -> np.ndarray:
    full = np.zeros((rows, cols))
    full[row_off:row_off + block.shape[0], col_off:col_off + block.shape[1]] = block
    return full


def _bias(g: h5py.Group, shape: tuple[int, ...]) -> np.ndarray | None:
    if "bias" not in g:
        return None
    b = np.asarray(g["bias"][()], dtype=np.float64)
    if len(shape) == 1 or b.shape == shape:
        return b.reshape(shape)
    if b.ndim == 1:
        return np.broadcast_to(b.reshape(-1, 1, 1), shape).copy()
    return b.transpose(2, 1, 0)


def _synapse(g: h5py.Group, name: str, src: str, shape: tuple[int, ...], nodes: Nodes, rank_in: int) -> str:
    w = np.asarray(g["weight"][()], dtype=np.float64)
    if len(shape) == 1:
        if rank_in != 1:
            nodes.append(ir.Flatten(f"{name}.flatten", (ir.Edge(src),)))
            src = f"{name}.flatten"
        nodes.append(ir.Dense(name, (ir.Edge(src),), weight=w.reshape(shape[0], -1)))
    else:
        pair: dict[str, Any] = {k: tuple(int(v) for v in np.broadcast_to(g[k][()], (2,)))
                                for k in ("stride", "padding", "dilation")}
        nodes.append(ir.Conv2d(name, (ir.Edge(src),), weight=w.reshape(w.shape[:4]), groups=int(g["groups"][()]),
                               **pair))
    return name


def load_artifact(directory: str | Path) -> ir.Graph:
    """The artifact as a graph: `layer{i}` LoihiLIF per netx layer, skip synapses, the host readout."""
    directory = Path(directory)
    man = read_manifest(directory)
    with h5py.File(directory / man["network"], "r") as f:
        shape_in = tuple(int(s) for s in f["layer/0/shape"][()])
        enc = man["input"]
        nodes: Nodes = [ir.Input("input", (), shape=shape_in),
                        Encode("input.encode", (ir.Edge("input"),), scale=enc["scale"], low=enc["low"],
                               high=enc["high"])]
        names = {0: "input.encode", **{la["index"]: f"layer{la['index']}" for la in man["layers"]}}
        shapes = {0: shape_in, **{la["index"]: tuple(la["shape"]) for la in man["layers"]}}
        skips = _skips(f, names, shapes)
        for la in man["layers"]:
            i, shape = la["index"], shapes[la["index"]]
            g = f[f"layer/{la['hdf5_layer']}"]
            syn = _synapse(g, f"layer{i}.syn", names[i - 1], shape, nodes, len(shapes[i - 1]))
            mine = [(edge, node) for edge, node, dst in skips if dst == i]
            nodes += [node for _, node in mine]
            scale = np.concatenate([np.full(m["size"], _step(m["ledger"])) for m in la["members"]]).reshape(shape)
            nodes.append(LoihiLIF(names[i], (ir.Edge(syn, 1), *[edge for edge, _ in mine]),
                                  ", ".join(m["origin"] for m in la["members"]), threshold=int(la["vThMant"]),
                                  i_decay=int(la["iDecay"]), v_decay=int(la["vDecay"]), bias=_bias(g, shape),
                                  scale=scale, period=man["netx"]["reset_interval"], phase=i))
        outputs = _readout(f, man, names, shapes, nodes)
    meta = {"layers": [[f"layer{la['index']}"] for la in man["layers"]], "latency": man["latency"],
            "period": man["netx"]["reset_interval"], "timesteps": man["timesteps"], "input": enc}
    return ir.Graph(tuple(nodes), outputs, {"timesteps": man["timesteps"], "loihi": meta}).with_nodes(nodes)


def _step(ledger: dict[str, Any]) -> float:
    step = ledger["step"]
    return float(max(step)) if isinstance(step, list) else float(step)


def _skips(f: h5py.File, names: dict[int, str], shapes: dict[int, tuple[int, ...]]) -> list[tuple[ir.Edge, ir.Op, int]]:
    """(edge into the destination layer, SkipDense node, destination index) per skip record."""
    found: list[tuple[ir.Edge, ir.Op, int]] = []
    node: ir.Op
    for k in sorted(f.get("snncompile/skip", {}), key=int):
        s = f[f"snncompile/skip/{k}"]
        src, dst = int(s["src"][()]), int(s["dst"][()])
        if "type" in s and s["type"][()][0] == b"conv":
            node = _conv_skip(s, f"skip{k}", names[src], shapes[src], shapes[dst])
            found.append((ir.Edge(node.name, int(s["delay"][()]) + 1), node, dst))
            continue
        w = _embed(int(np.prod(shapes[dst])), int(np.prod(shapes[src])), np.asarray(s["weight"][()], np.float64),
                   int(s["dst_offset"][()]), int(s["src_offset"][()]))
        node = SkipDense(f"skip{k}", (ir.Edge(names[src]),), weight=w, shape=shapes[dst])
        found.append((ir.Edge(node.name, int(s["delay"][()]) + 1), node, dst))
    return found


def _conv_skip(s: h5py.Group, name: str, src: str, src_shape: tuple[int, ...], dst_shape: tuple[int, ...]
               ) -> ir.Conv2d:
    """A conv skip record as a Conv2d over whole (stacked) layers: the kernel itself when the blocks are the whole
    layers, else the kernel ungrouped and placed at the blocks' channels (zeros elsewhere)."""
    w = np.asarray(s["weight"][()], np.float64)
    groups = int(s["groups"][()])
    in_shape, out_shape = tuple(int(v) for v in s["in_shape"][()]), tuple(int(v) for v in s["out_shape"][()])
    geometry = {k: tuple(int(v) for v in s[k][()]) for k in ("stride", "padding", "dilation")}
    if in_shape == src_shape and out_shape == dst_shape:
        return ir.Conv2d(name, (ir.Edge(src),), weight=w, groups=groups, **geometry)  # type: ignore[arg-type]
    c_in = int(s["src_offset"][()]) // int(np.prod(in_shape[1:]))
    c_out = int(s["dst_offset"][()]) // int(np.prod(out_shape[1:]))
    full = np.zeros((dst_shape[0], src_shape[0], *w.shape[2:]))
    full[c_out:c_out + out_shape[0], c_in:c_in + in_shape[0]] = ungroup(w, groups)
    return ir.Conv2d(name, (ir.Edge(src),), weight=full, **geometry)  # type: ignore[arg-type]


def _readout(f: h5py.File, man: dict[str, Any], names: dict[int, str], shapes: dict[int, tuple[int, ...]],
             nodes: Nodes) -> tuple[str, ...]:
    if "snncompile/readout" not in f:
        return tuple(names[la["index"]] for la in man["layers"][-1:])
    bias = np.asarray(f["snncompile/readout_bias"][()], np.float64)
    edges = []
    for k in sorted(f["snncompile/readout"], key=int):
        r = f[f"snncompile/readout/{k}"]
        layer, m = int(r["layer"][()]), np.asarray(r["weight"][()], np.float64)
        w = _embed(m.shape[0], int(np.prod(shapes[layer])), m, 0, int(r["offset"][()]))
        nodes.append(SkipDense(f"readout{k}", (ir.Edge(names[layer]),), weight=w, shape=(m.shape[0],)))
        edges.append(ir.Edge(f"readout{k}", man["latency"] - layer))
    nodes.append(WindowReadout("readout", tuple(edges), weight=np.eye(bias.shape[0]), bias=bias,
                               start=man["latency"], length=man["timesteps"]))
    return ("readout",)


def simulate_artifact(directory: str | Path, x: np.ndarray) -> tuple[ir.Graph, SimResult]:
    """Run an emitted artifact bit-exactly on real-valued x [T, B, ...] (padded by `latency` zero frames);
    keeps every layer's spikes and the readout."""
    graph = load_artifact(directory)
    (inp,) = graph.of_kind(ir.Input)
    if len(inp.shape) == 1 and np.ndim(x) > 3:  # an image input the emitter declared flat (see emit.py)
        x = np.reshape(x, (*np.shape(x)[:2], -1))
    result = simulate_loihi(graph, x)
    keep = {n.name for n in graph.of_kind(LoihiLIF)} | set(graph.outputs)
    result.values = {k: v for k, v in result.values.items() if k in keep}
    return graph, result


def artifact_populations(directory: str | Path, x: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, int],
                                                                        list[np.ndarray], int]:
    """simulate_artifact's result per compiled population (as the manifest's members name them): spikes
    [T + latency, B, size] (flat), each population's pipeline depth (its netx layer index: it sees the model's
    step 0 at that step), the outputs, and the latency."""
    man = read_manifest(Path(directory))
    graph, result = simulate_artifact(directory, x)
    pops: dict[str, np.ndarray] = {}
    depth: dict[str, int] = {}
    for la in man["layers"]:
        spikes = result.values[f"layer{la['index']}"]
        flat = spikes.reshape(*spikes.shape[:2], -1)
        for m in la["members"]:
            pops[m["node"]] = flat[:, :, m["offset"]:m["offset"] + m["size"]]
            depth[m["node"]] = int(la["index"])
    return pops, depth, [result.values[o] for o in graph.outputs], int(man["latency"])
