"""IR → NIR: one function per op kind mapping discrete-time parameters to NIR's continuous-time ones.

dt convention (forward Euler, as snntorch, spikingjelly and norse discretise NIR; NIR.md §2.1):
    NIR LIF:  v[t] = v[t−1] + (dt/τ)·(v_leak − v[t−1] + r·I[t])  →  v[t] = (1 − dt/τ)·v[t−1] + (dt·r/τ)·I[t]
so an IR LIF  h[t] = β·v[t−1] + g·x[t]  (β = decay, g = gain) is written as
    τ = dt / (1 − β),   r = g·τ/dt,   v_leak = 0,   v_reset = 0,   v_threshold = θ      (0 ≤ β < 1)
    β = 1 (every neuron):  nir.IF with r = g/dt                 (v[t] = v[t−1] + dt·r·I[t])
and a current-based LIFExt (i[t] = α·i[t−1] + x[t]) as nir.CubaLIF with
    τ_syn = dt / (1 − α),   w_in = τ_syn/dt,   τ_mem = dt / (1 − β),   r = g·τ_mem/dt
("unit input gain": with g = 1 the NIR parameters are exactly what snntorch and spikingjelly export).
reset "none" on a leaky membrane is exact as nir.LI (or nir.I for β = 1) followed by nir.Threshold.
(nir-legalize with input_gain="weights" sets g = 1 − β beforehand, so that r = 1: norse's convention.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from snncompile import ir
from snncompile.ir.ops_ext import LIFExt
from snncompile.targets.nir.legalize import NEURON_KINDS, memoryless


@dataclass
class Piece:
    """The NIR nodes one IR op became: `entry` receives the op's inputs, `exit` feeds its consumers."""

    nodes: dict[str, nir.NIRNode]
    entry: str
    exit: str
    edges: list[tuple[str, str]] = field(default_factory=list)


def _arr(value: np.ndarray | float, shape: ir.Shape) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()


def dense_conv_weight(op: ir.Conv2d) -> np.ndarray:
    """The grouped kernel [Co, Ci/g, kh, kw] as an equivalent ungrouped one [Co, Ci, kh, kw] (zero blocks).
    nir.Conv2d derives its input type from weight.shape[1], so grouped kernels fail NIR type checking."""
    co, ci_g, kh, kw = op.weight.shape
    if op.groups == 1:
        return np.array(op.weight)
    full = np.zeros((co, ci_g * op.groups, kh, kw))
    per_group = co // op.groups
    for o in range(co):
        g = o // per_group
        full[o, g * ci_g:(g + 1) * ci_g] = op.weight[o]
    return full


def synapse_piece(op: ir.Op, shapes: dict[str, ir.Shape]) -> Piece:
    """Input, Dense, Conv2d, Pool2d, Flatten and Readout (whose mean over time is left to the host)."""
    if isinstance(op, (ir.Dense, ir.Readout)):
        w = np.array(op.weight)
        node = nir.Linear(w) if op.bias is None else nir.Affine(w, np.array(op.bias))
    elif isinstance(op, ir.Conv2d):
        bias = np.zeros(op.weight.shape[0]) if op.bias is None else np.array(op.bias)
        node = nir.Conv2d(input_shape=shapes[op.inputs[0].src][1:], weight=dense_conv_weight(op), stride=op.stride,
                          padding=op.padding, dilation=op.dilation, groups=1, bias=bias)
    elif isinstance(op, ir.Pool2d):
        cls = nir.AvgPool2d if op.mode == "avg" else nir.SumPool2d
        node = cls(kernel_size=np.array(op.kernel), stride=np.array(op.stride), padding=np.array(op.padding))
    elif isinstance(op, ir.Flatten):
        shape = shapes[op.inputs[0].src]  # negative dims: importers disagree on whether dim 0 is the batch
        node = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=-len(shape), end_dim=-1)
    elif isinstance(op, ir.Input):
        node = nir.Input(input_type={"input": np.array(shapes[op.name])})
    else:
        raise TypeError(f"no NIR mapping for {op.kind}")
    return Piece({op.name: node}, op.name, op.name)


def time_constant(decay: np.ndarray, dt: float) -> np.ndarray:
    """τ = dt / (1 − β) for 0 ≤ β < 1."""
    return dt / (1.0 - decay)


def neuron_piece(op: ir.Op, shape: ir.Shape, dt: float) -> Piece:
    """LIF / IF / LI+Threshold / CubaLIF for an IR neuron (the rules have refused what does not fit)."""
    beta = _arr(op.decay, shape)  # type: ignore[attr-defined]
    gain = _arr(1.0 if op.gain is None else op.gain, shape)  # type: ignore[attr-defined]
    theta = _arr(op.threshold[0] if isinstance(op, ir.LIF) else op.threshold, shape)  # type: ignore[attr-defined]
    zeros = np.zeros(shape)
    integrator = bool(np.all(beta == 1.0))
    tau = None if integrator else time_constant(beta, dt)
    r = gain / dt if integrator else gain * tau / dt
    syn = getattr(op, "syn_decay", None)
    if syn is not None:
        tau_syn = time_constant(_arr(syn, shape), dt)
        node: nir.NIRNode = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=r, v_leak=zeros, v_threshold=theta,
                                        v_reset=zeros.copy(), w_in=tau_syn / dt)
        return Piece({op.name: node}, op.name, op.name)
    if op.reset == "none" and not memoryless(op):  # type: ignore[attr-defined]
        membrane = nir.I(r=r) if integrator else nir.LI(tau=tau, r=r, v_leak=zeros)
        spikes = f"{op.name}.spikes"
        return Piece({op.name: membrane, spikes: nir.Threshold(threshold=theta)}, op.name, spikes,
                     [(op.name, spikes)])
    if integrator:
        node = nir.IF(r=r, v_threshold=theta, v_reset=zeros)
    else:
        node = nir.LIF(tau=tau, r=r, v_leak=zeros, v_threshold=theta, v_reset=zeros.copy())
    return Piece({op.name: node}, op.name, op.name)


def node_metadata(op: ir.Op, dt: float) -> dict[str, object]:
    """What snncompile knows about the op beyond NIR's fields (read back by snncompile's reader)."""
    meta: dict[str, object] = {"ir_kind": op.kind, "origin": op.origin}
    if isinstance(op, ir.Conv2d):
        meta.update(groups=op.groups, bias=op.bias is not None)  # NIR gets an ungrouped kernel and a zero bias
    if isinstance(op, NEURON_KINDS):
        meta.update(comparison=op.comparison, reset=op.reset, dt=dt)
        if isinstance(op, LIFExt):
            meta["reset_timing"] = op.reset_timing
    if isinstance(op, ir.Readout):
        meta["reduce"] = "mean over timesteps (host-side)"
    return meta


def _output_names(graph: ir.Graph, taken: set[str]) -> dict[str, str]:
    names = {}
    for out in graph.outputs:
        name = "output" if len(graph.outputs) == 1 else f"output.{out}"
        while name in taken:
            name = f"_{name}"
        names[out] = name
    return names


def to_nir(graph: ir.Graph, dt: float, metadata: dict[str, object]) -> nir.NIRGraph:
    """The NIR graph of a lowered IR graph: several edges into a node are summed; an edge delay d > 0 becomes
    a nir.Delay of d·dt seconds on that edge; outputs become nir.Output nodes."""
    shapes = dict(graph.shapes)
    pieces: dict[str, Piece] = {}
    for op in graph.nodes:
        if isinstance(op, NEURON_KINDS):
            piece = neuron_piece(op, shapes[op.name], dt)
        else:
            piece = synapse_piece(op, shapes)
        extra = dict(graph.metadata.get("nir_node_metadata", {}).get(op.name, {}))
        for name, node in piece.nodes.items():
            node.metadata = {**node_metadata(op, dt), **extra} if name == piece.entry else {"ir_kind": "spikes"}
        pieces[op.name] = piece
    nodes = {name: node for p in pieces.values() for name, node in p.nodes.items()}
    edges = [e for p in pieces.values() for e in p.edges]
    for op in graph.nodes:
        for k, e in enumerate(op.inputs):
            src = pieces[e.src].exit
            if e.delay:
                delay = f"{op.name}.delay{k}"
                nodes[delay] = nir.Delay(delay=np.full(shapes[e.src], e.delay * dt))
                nodes[delay].metadata = {"ir_kind": "delay", "steps": e.delay}
                edges.append((src, delay))
                src = delay
            edges.append((src, pieces[op.name].entry))
    for out, name in _output_names(graph, set(nodes)).items():
        nodes[name] = nir.Output(output_type={"output": np.array(shapes[out])})
        edges.append((pieces[out].exit, name))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)
