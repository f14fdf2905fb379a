"""Emit a fixed-point graph as network.net (netx HDF5 + skip and readout records netx ignores) and manifest.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from snncompile import ir
from snncompile.sim.float_ops import FLOAT_OPS
from snncompile.targets.loihi.netx_plan import NetxLayer, Skip, plan_netx
from snncompile.targets.loihi.ops import WindowReadout
from snncompile.targets.loihi.structure import SOURCES, positions

MANIFEST_VERSION = 1
NETWORK = "network.net"
MANIFEST = "manifest.json"
SEMANTICS = (
    "Lava fixed_pt CUBA LIF (PyLifResetModelBitAcc): u = wrap24(dec(u) + 64·A), v = sat24(dec(v) + u + 64·bias), "
    "spike iff v > 64·vThMant, v := 0 on a spike (u is not reset), decays truncate toward zero",
    "each synaptic hop adds one timestep; layer i (chain index) first sees sample data at step i + 1 (1-based)",
    "netx reset_interval = period, reset_offset = 1: layer i clears u and v at steps t ≡ i + 1 (mod period), "
    "removing bias integrated during warm-up and state of the previous sample (samples may be streamed back to back)",
    "run timesteps + latency steps per sample; layer i's valid spikes are steps i + 1 .. i + timesteps",
    "skip synapses (group /snncompile/skip) connect layer src's output (torch C-major flat order) to layer dst's "
    "neuron input with the given extra delay; index 0 is the encoded input; type dense: a weight block at "
    "(dst_offset, src_offset), Lava DelayDense; type conv: a torch conv (weight [Co, Ci/groups, kh, kw], stride, "
    "padding, dilation, groups) from the in_shape block at src_offset to the out_shape block at dst_offset, "
    "Lava DelaySparse",
    "spikes between layers are binary; the input is sent as integer payloads (input.bits > 0: graded)",
)


def readout_sources(graph: ir.Graph, readout: WindowReadout) -> tuple[list[tuple[str, np.ndarray]], np.ndarray]:
    """The host readout as Σ_src M_src · counts_src / T + c: one matrix per source population, and c."""
    const = np.zeros(readout.weight.shape[0]) if readout.bias is None else np.array(readout.bias)
    sources = []
    for e in readout.inputs:
        chain, node = [], graph.node(e.src)
        while not isinstance(node, SOURCES):
            chain.append(node)
            node = graph.node(node.inputs[0].src)
        classes, shape = readout.weight.shape[0], graph.shapes[node.name]
        # row c of M is the gradient of logit c (the chain is affine): classes backward passes, never an n x n basis
        x = torch.zeros((1, classes, *shape), dtype=torch.float64, requires_grad=True)
        y = x
        for op in reversed(chain):
            y = FLOAT_OPS[type(op)](op, [y])
        logits = y @ torch.from_numpy(np.array(readout.weight)).T  # [1, classes (copies of the input), classes]
        (grad,) = torch.autograd.grad(logits, x, grad_outputs=torch.eye(classes, dtype=torch.float64)[None])
        const = const + logits[0, 0].detach().numpy()
        sources.append((node.name, grad[0].reshape(classes, -1).numpy()))
    return sources, const


def _dataset(group: h5py.Group, key: str, value: Any) -> None:
    group.create_dataset(key, data=value)


def _write_layer(f: h5py.File, index: int, layer: NetxLayer, prev_rank: int) -> int:
    """Write `layer` (and a flatten before a dense layer fed by a rank-3 one); returns the next HDF5 index."""
    if layer.kind == "dense" and prev_rank == 3:
        g = f.create_group(f"layer/{index}")
        _dataset(g, "type", np.array([b"flatten"], dtype="S10"))
        index += 1
    g = f.create_group(f"layer/{index}")
    _dataset(g, "type", np.array([layer.kind.encode()], dtype="S10"))
    _dataset(g, "shape", np.array(layer.shape, dtype=np.int64))
    _dataset(g, "weight", layer.weight.astype(np.float32))  # type: ignore[union-attr]
    for key in ("stride", "padding", "dilation"):
        if key in layer.conv:
            _dataset(g, key, np.array(layer.conv[key], dtype=np.int64))
    if "groups" in layer.conv:
        _dataset(g, "groups", np.int64(layer.conv["groups"]))
    bias = _stacked_bias(layer)
    if bias is not None:
        _dataset(g, "bias", bias.astype(np.float32))
    first = layer.members[0]
    n = g.create_group("neuron")
    _dataset(n, "type", np.array([b"CUBA"], dtype="S10"))
    for key, value in (("iDecay", first.i_decay), ("vDecay", first.v_decay), ("vThMant", first.threshold),
                       ("refDelay", 1)):
        _dataset(n, key, np.int64(value))
    _dataset(n, "gradedSpike", np.bool_(False))
    return index + 1


def _stacked_bias(layer: NetxLayer) -> np.ndarray | None:
    """Per neuron (dense), per channel, or full shape in Lava's (W, H, C) order (conv)."""
    if all(m.bias is None for m in layer.members):
        return None
    full = np.concatenate([np.zeros(layer.member_shape) if m.bias is None else m.bias for m in layer.members])
    if full.ndim == 1:
        return full
    per_channel = full.reshape(full.shape[0], -1)
    if np.all(per_channel == per_channel[:, :1]):
        return per_channel[:, 0]
    return full.transpose(2, 1, 0)


STOCK_NETX_REFUSAL = (
    "snncompile artifact: this network has skip synapses and/or a host readout that "
    "lava.lib.dl.netx.hdf5.Network cannot load (it would run a wrong chain). Run it with the lava_runtime.py "
    "shipped in snncompile/targets/loihi/ (python lava_runtime.py ARTIFACT_DIR INPUT.npy), which loads the chain "
    "with num_layers from manifest.json and adds the skips and the readout")


def _write_guard(f: h5py.File, index: int) -> None:
    """A last layer that stock netx parses as an input block whose integer `weight` is this message, so that
    Network(net_config=...) fails with it (netx silently skips unknown layer types and the /snncompile group);
    lava_runtime.py passes num_layers (manifest netx.num_layers) and never reaches it."""
    g = f.create_group(f"layer/{index}")
    _dataset(g, "type", np.array([b"input"], dtype="S10"))
    _dataset(g, "shape", np.array([1], dtype=np.int64))
    n = g.create_group("neuron")
    _dataset(n, "type", np.array([b"CUBA"], dtype="S10"))
    for key in ("iDecay", "vDecay", "vThMant", "refDelay"):
        _dataset(n, key, np.int64(1))
    _dataset(g, "weight", np.bytes_(STOCK_NETX_REFUSAL.encode()))


def write_network(path: Path, graph: ir.Graph, layers: list[NetxLayer], skips: list[Skip],
                  readout: tuple[list[tuple[int, int, np.ndarray]], np.ndarray] | None) -> list[int]:
    """network.net; returns each chain layer's HDF5 layer index."""
    (inp,) = graph.of_kind(ir.Input)
    indices = []
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        _dataset(g, "type", np.array([b"input"], dtype="S10"))
        # netx accepts `flatten` only between conv and dense layers: an image read directly by a dense
        # layer is declared flat (torch C-major order) and the runtime flattens the frames it sends
        flat_input = bool(layers) and layers[0].kind == "dense" and len(inp.shape) == 3
        shape = (int(np.prod(inp.shape)),) if flat_input else inp.shape
        _dataset(g, "shape", np.array(shape, dtype=np.int64))
        index, rank = 1, len(shape)
        for layer in layers:
            index = _write_layer(f, index, layer, rank)
            indices.append(index - 1)
            rank = len(layer.shape)
        if skips or readout is not None:
            _write_guard(f, index)
        for k, s in enumerate(skips):
            sg = f.create_group(f"snncompile/skip/{k}")
            for key in ("src", "dst", "src_offset", "dst_offset", "delay"):
                _dataset(sg, key, np.int64(getattr(s, key)))
            _dataset(sg, "weight", s.weight.astype(np.float32))
            _dataset(sg, "type", np.array([s.kind.encode()], dtype="S10"))
            if s.kind == "conv":
                for key in ("stride", "padding", "dilation"):
                    _dataset(sg, key, np.array(s.conv[key], dtype=np.int64))
                _dataset(sg, "groups", np.int64(s.conv["groups"]))
                _dataset(sg, "in_shape", np.array(s.in_shape, dtype=np.int64))
                _dataset(sg, "out_shape", np.array(s.out_shape, dtype=np.int64))
        if readout is not None:
            for k, (layer_index, offset, matrix) in enumerate(readout[0]):
                rg = f.create_group(f"snncompile/readout/{k}")
                _dataset(rg, "layer", np.int64(layer_index))
                _dataset(rg, "offset", np.int64(offset))
                _dataset(rg, "weight", matrix)
            _dataset(f, "snncompile/readout_bias", readout[1])
    return indices


def emit_loihi(graph: ir.Graph, directory: Path) -> list[Path]:
    """Write network.net and manifest.json into `directory`."""
    meta = graph.metadata["loihi"]
    layers, skips = plan_netx(graph)
    where = {m.name: (la.index, k * la.size) for la in layers for k, m in enumerate(la.members)}
    where.update({n.name: (0, 0) for n in graph.nodes if isinstance(n, ir.Input)})
    readout = None
    readouts = graph.of_kind(WindowReadout)
    if readouts:
        sources, const = readout_sources(graph, readouts[0])
        readout = ([(*where[name], m) for name, m in sources], const)
    net = directory / NETWORK
    hdf5_index = write_network(net, graph, layers, skips, readout)
    manifest = build_manifest(graph, meta, layers, skips, hdf5_index, readout)
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return [net, path]


def layer_exactness(meta: dict[str, Any], member: str) -> dict[str, Any]:
    """`exact` (the layer's integers reproduce the float layer bit for bit) and, when not, `approximate` (why)."""
    entry = meta.get("exactness", {}).get(member)
    if entry is None:
        return {}
    return {"exact": entry["exact"], **({} if entry["exact"] else {"approximate": entry["reasons"]})}


def build_manifest(graph: ir.Graph, meta: dict[str, Any], layers: list[NetxLayer], skips: list[Skip],
                   hdf5_index: list[int], readout: Any) -> dict[str, Any]:
    pos, steps = positions(graph), meta["timesteps"]
    return {
        "format": "snncompile-loihi", "version": MANIFEST_VERSION, "network": NETWORK,
        "timesteps": steps, "latency": meta["latency"], "steps": steps + meta["latency"],
        "netx": {"reset_interval": meta["period"], "reset_offset": 1,
                 "input_message_bits": meta["input"]["bits"],
                 "num_layers": 1 + max(hdf5_index, default=0),
                 "stock_netx": "refused: the last HDF5 layer makes Network(net_config) fail with a message pointing "
                               "to lava_runtime.py; the chain is layers 0 .. num_layers - 1" if skips or readout
                               else "loads completely: a plain chain without skips or readout"},
        "input": meta["input"],
        "layers": [{
            "index": la.index, "hdf5_layer": h, "lava_block": la.index - 1, "type": la.kind,
            "shape": list(la.shape), "vThMant": la.members[0].threshold, "iDecay": la.members[0].i_decay,
            "vDecay": la.members[0].v_decay, "reset_step": la.index + 1,
            "valid_steps": [la.index + 1, la.index + steps],
            **layer_exactness(meta, la.members[0].name),
            "members": [{"node": m.name, "origin": m.origin, "offset": k * la.size, "size": la.size,
                         "ledger": meta["ledger"][m.name]} for k, m in enumerate(la.members)],
        } for la, h in zip(layers, hdf5_index, strict=True)],
        "skips": [{"index": k, "src": s.src, "dst": s.dst, "delay": s.delay, "type": s.kind,
                   "shape": list(s.weight.shape), "nonzero": int(np.count_nonzero(s.weight))}
                  for k, s in enumerate(skips)],
        "readout": None if readout is None else {
            "kind": "host linear map of spike counts",
            "formula": "logits = sum_k weight_k @ counts_k / timesteps + bias; counts_k = spikes of layer k over "
                       "its valid_steps, slice [offset, offset + weight_k.shape[1]) of the flat layer output",
            "sources": [{"layer": li, "offset": off, "shape": list(m.shape)} for li, off, m in readout[0]],
            "window": "valid_steps of each source layer", "classes": int(readout[1].shape[0])},
        "ledger": meta["ledger"], "overflow": meta["overflow"], "semantics": list(SEMANTICS),
        "approximations": meta.get("approximations", []), "positions": pos,
    }
