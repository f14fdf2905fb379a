"""NIR frontend: a .nir file (nir.write, snntorch, spikingjelly, norse, snncompile) → a verified IR graph.

Structure: several edges into a node are summed (synaptic fan-in into a neuron, an ir.Add before any other
op); a nir.Delay of τ seconds becomes an edge delay of τ/dt steps; nir.Output nodes name the graph outputs.
Recurrent graphs (cycles, NIRGraph subgraphs) are refused. Node semantics: snncompile.frontend.nir.nodes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import nir
import numpy as np

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic, error
from snncompile.frontend.nir.nodes import (
    CONVENTIONS,
    NEURONS,
    RESETS,
    Convention,
    NeuronContext,
    grouped_weight,
    membrane_threshold,
    problem,
    synapse,
    with_reset,
)
from snncompile.ir.graph import topological_sort
from snncompile.ir.ops_ext import LIFExt


@dataclass(frozen=True)
class NirReadOptions:
    """dt: the source's Euler step in seconds (None: the file's metadata `dt`, else the convention's default,
    with warning SNC814). convention: "auto" (snncompile if the file says so; any other file is refused,
    SNC816, since its writer cannot be identified), or one of CONVENTIONS. readout: read Affine/Linear graph
    outputs as ir.Readout, y = mean over T (None: only where the file marks a readout). timesteps: T for the
    graph (None: the file's metadata). reset: the source's actual reset where the file cannot say it
    (nir_nodes.RESETS, e.g. "subtract-delayed" for snntorch's default Leaky); None: NIR's reset to v_reset."""

    dt: float | None = None
    convention: str = "auto"
    readout: bool | None = None
    timesteps: int | None = None
    reset: str | None = None


@dataclass
class NirImport:
    """The IR graph of a NIR file, the NIR graph itself, the dt and convention used, and warnings."""

    graph: ir.Graph
    nir_graph: nir.NIRGraph
    dt: float
    convention: Convention
    warnings: list[Diagnostic]
    reset: str | None = None
    """The reset spec applied to every neuron (options.reset, else the convention's default), None: NIR's."""


def read_graph(path: Path) -> nir.NIRGraph:
    """nir.read with type checking; without it for files whose Input keeps a batch dim (norse)."""
    if not path.is_file():
        raise error("SNC108", f"NIR file {path} does not exist", hint="check the path")
    try:
        return nir.read(path)
    except Exception as first:
        try:
            return nir.read(path, type_check=False)
        except Exception:
            raise error("SNC810", f"{path} is not a readable NIR file: {type(first).__name__}: {first}",
                        hint="write it with nir.write(path, graph)") from None


def _meta(node: nir.NIRNode) -> dict[str, Any]:
    return dict(getattr(node, "metadata", None) or {})


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def resolve(graph: nir.NIRGraph, options: NirReadOptions) -> tuple[float, Convention, list[Diagnostic]]:
    meta = _meta(graph)
    name = options.convention
    if name == "auto":
        if _text(meta.get("source", "")) != "snncompile":  # the only writer a file identifies with certainty
            raise error("SNC816", "--nir-convention auto: the file does not say which program wrote it, and the "
                        "conventions differ in comparison, reset and dt (reading a norse or spikingjelly file "
                        "under another one changes hundreds of spike decisions)",
                        hint="name the writer: --nir-convention one of " + ", ".join(CONVENTIONS)
                             + " (Python: convention=...); `nir` is the NIR specification's own semantics")
        name = "snncompile"
    if name not in CONVENTIONS:
        raise error("SNC806", f"unknown NIR convention {name!r}", hint=f"one of auto, {', '.join(CONVENTIONS)}")
    if options.reset is not None and options.reset not in RESETS:
        raise error("SNC806", f"unknown reset {options.reset!r}", hint=f"one of {', '.join(RESETS)}")
    conv = CONVENTIONS[name]
    warnings = []
    dt = options.dt if options.dt is not None else meta.get("dt")
    if dt is None:
        dt = conv.dt
    if options.dt is None and "dt" not in meta and not conv.dt_fixed:
        warnings.append(Diagnostic("SNC814", f"the file does not record dt; assumed {dt:g} s ({conv.name} "
                                   "convention)", hint="pass the source's step with --nir-dt", severity="warning"))
    if options.reset is None and conv.reset is not None and any(
            isinstance(n, (nir.LIF, nir.CubaLIF, nir.IF)) for n in graph.nodes.values()):
        warnings.append(Diagnostic("SNC817", f"the file cannot record its neurons' reset; assumed the {conv.name} "
                                   f"default, {conv.reset}", hint="pass the source's reset with --nir-reset "
                                   "(e.g. zero for reset_mechanism='zero')", severity="warning"))
    dt = float(dt)
    if not (np.isfinite(dt) and dt > 0):
        raise error("SNC806", f"dt must be a positive number of seconds, got {dt}", hint="e.g. --nir-dt 1e-3")
    return dt, conv, warnings


def read_nir(path: str | os.PathLike[str], options: NirReadOptions | None = None) -> NirImport:
    """Read a NIR file into a verified IR graph (see NirReadOptions for dt and conventions)."""
    options = options or NirReadOptions()
    graph = read_graph(Path(path))
    dt, conv, warnings = resolve(graph, options)
    builder = _Builder(graph, dt, conv, options)
    result = builder.build()
    ir.verify_or_raise(result)
    return NirImport(result, graph, dt, conv, warnings, options.reset or conv.reset)


class _Builder:
    """Walks the NIR graph in topological order, emitting IR ops; `out[name]` is the IR edge carrying a
    NIR node's output (Delay and no-op Flatten nodes pass their input on)."""

    def __init__(self, graph: nir.NIRGraph, dt: float, conv: Convention, options: NirReadOptions) -> None:
        self.g, self.dt, self.conv, self.options = graph, dt, conv, options
        self.preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
        self.succs: dict[str, list[str]] = {n: [] for n in graph.nodes}
        for src, dst in graph.edges:
            if src not in graph.nodes or dst not in graph.nodes:
                raise error("SNC813", f"edge ({src}, {dst}) names a node that does not exist",
                            hint="every edge must connect two nodes of the graph; rewrite the file with nir.write")
            self.preds[dst].append(src)
            self.succs[src].append(dst)
        self.ops: list[ir.Op] = []
        self.shapes: dict[str, ir.Shape] = {}
        self.out: dict[str, ir.Edge] = {}
        self.outputs: list[str] = []

    def build(self) -> ir.Graph:
        if not self.g.edges:
            raise error("SNC813", f"the NIR graph has no edges ({len(self.g.nodes)} node(s) not connected)",
                        hint="the file holds no network: write the graph with its edges (nir.NIRGraph(nodes, edges))")
        for name in self._order():
            self._visit(name, self.g.nodes[name])
        if not self.outputs:
            raise error("SNC813", "the NIR graph has no Output node", hint="add an nir.Output node fed by the network")
        if sum(isinstance(op, ir.Input) for op in self.ops) != 1:
            raise error("SNC813", "the NIR graph needs exactly one Input node",
                        hint="a graph with one nir.Input feeding the network")
        meta: dict[str, Any] = {"nir": {"dt": self.dt, "convention": self.conv.name,
                                        "reset": self.options.reset or self.conv.reset}}
        steps = self.options.timesteps or _meta(self.g).get("timesteps")
        if steps is not None:
            meta["timesteps"] = int(steps)
        return ir.Graph(topological_sort(tuple(self.ops)), tuple(self.outputs), meta)

    def _order(self) -> list[str]:
        for name, node in self.g.nodes.items():
            if isinstance(node, nir.NIRGraph):
                raise problem("SNC813", name, "subgraph (a recurrent layer such as snntorch's RLeaky): recurrence "
                              "is not supported")
        try:
            return list(TopologicalSorter({n: set(p) for n, p in self.preds.items()}).static_order())
        except CycleError as exc:
            raise error("SNC813", f"the NIR graph has a cycle ({' -> '.join(exc.args[1])}): recurrence is not "
                        "supported", hint="export a feed-forward network") from None

    def _add(self, op: ir.Op) -> ir.Edge:
        self.shapes[op.name] = op.infer_shape([self.shapes[e.src] for e in op.inputs])
        self.ops.append(op)
        return ir.Edge(op.name)

    def _inputs(self, name: str, fan_in: bool) -> tuple[ir.Edge, ...]:
        edges = tuple(self.out[p] for p in self.preds[name])
        if not edges:
            raise problem("SNC813", name, "node has no input")
        if len(edges) == 1 or fan_in:
            return edges
        return (self._add(ir.Add(f"{name}.sum", edges, self._origin(name))),)

    def _origin(self, name: str) -> str:
        return _text(_meta(self.g.nodes[name]).get("origin", f"nir:{name}"))

    def _visit(self, name: str, node: nir.NIRNode) -> None:
        if isinstance(node, nir.Input):
            self.out[name] = self._add(ir.Input(name, (), self._origin(name), shape=self._input_shape(name, node)))
        elif isinstance(node, nir.Output):
            (edge,) = self._inputs(name, fan_in=False)
            if edge.delay:
                raise problem("SNC813", name, "a delayed graph output")
            self.outputs.append(edge.src)
        elif isinstance(node, nir.Delay):
            self.out[name] = self._delay(name, node)
        elif isinstance(node, nir.Flatten):
            self.out[name] = self._flatten(name, node)
        elif isinstance(node, nir.Threshold):
            self._threshold(name, node)
        elif isinstance(node, (nir.LI, nir.I)):
            if not (len(self.succs[name]) == 1 and isinstance(self.g.nodes[self.succs[name][0]], nir.Threshold)):
                raise problem("SNC811", name, f"{type(node).__name__} outputs a membrane potential, not spikes; "
                              "the IR has no non-spiking membrane readout", "end the network with an Affine readout")
        elif type(node) in NEURONS:
            self.out[name] = self._add(self._restore(NEURONS[type(node)](node, self._context(name)), name))
        else:
            readout = self._is_readout(name)
            edges = self._inputs(name, fan_in=readout)  # a readout sums its inputs itself
            op = synapse(node, name, edges, self._origin(name), self.shapes[edges[0].src], readout)
            self.out[name] = self._add(self._regroup(op, name))

    def _regroup(self, op: ir.Op, name: str) -> ir.Op:
        """snncompile convention: the grouped, possibly bias-free conv that was written ungrouped with bias 0."""
        meta = _meta(self.g.nodes[name])
        if self.conv.name != "snncompile" or not isinstance(op, ir.Conv2d):
            return op
        changes: dict[str, Any] = {}
        if not bool(meta.get("bias", True)) and op.bias is not None and not np.any(op.bias):
            changes["bias"] = None
        groups = int(meta.get("groups", 1))
        weight = grouped_weight(op.weight, groups) if groups > 1 else None
        if weight is not None:
            changes.update(weight=weight, groups=groups)
        return op.replace(**changes) if changes else op

    def _context(self, name: str) -> NeuronContext:
        """Inputs, shape and comparison of the neuron node `name` (the snncompile convention keeps ≥)."""
        inputs = self._inputs(name, fan_in=True)
        meta = _meta(self.g.nodes[name])
        comparison = self.conv.comparison
        if self.conv.name == "snncompile" and "comparison" in meta:
            comparison = _text(meta["comparison"])
        return NeuronContext(name, inputs, self.shapes[inputs[0].src], self.dt, self.conv, comparison,
                             self._origin(name))

    def _restore(self, op: ir.Op, name: str) -> ir.Op:
        """The reset the user states (options.reset), or under the snncompile convention the one the IR had
        before an opted-in approximation (node metadata)."""
        spec = self.options.reset or self.conv.reset
        if spec is not None:
            return with_reset(op, spec)
        meta = _meta(self.g.nodes[name])
        if self.conv.name != "snncompile" or "reset" not in meta:
            return op
        changes = {"reset": _text(meta["reset"])}
        if isinstance(op, LIFExt) and "reset_timing" in meta:
            changes["reset_timing"] = _text(meta["reset_timing"])
        return op.replace(**changes)

    def _threshold(self, name: str, node: nir.Threshold) -> None:
        (membrane,) = self.preds[name] if len(self.preds[name]) == 1 else (None,)
        if membrane is None or not isinstance(self.g.nodes[membrane], (nir.LI, nir.I)):
            raise problem("SNC811", name, "a Threshold node not fed by a single LI or I membrane")
        ctx = self._context(membrane)
        self.out[name] = self._add(membrane_threshold(self.g.nodes[membrane], node, ctx))

    def _delay(self, name: str, node: nir.Delay) -> ir.Edge:
        (edge,) = self._inputs(name, fan_in=False)
        steps = np.unique(np.asarray(node.delay, dtype=np.float64) / self.dt)
        if steps.size != 1 or abs(steps[0] - round(steps[0])) > 1e-6 or steps[0] < 0:
            raise problem("SNC812", name, f"delay {np.unique(node.delay)} s is not one whole number of steps of "
                          f"dt = {self.dt:g} s")
        return ir.Edge(edge.src, edge.delay + round(float(steps[0])))

    def _flatten(self, name: str, node: nir.Flatten) -> ir.Edge:
        (edge,) = self._inputs(name, fan_in=False)
        shape = self.shapes[edge.src]
        if len(shape) <= 1:
            return edge
        start, end = node.start_dim % len(shape), node.end_dim % len(shape)
        if start != 0 or end != len(shape) - 1:
            raise problem("SNC812", name, f"partial flatten (dims {node.start_dim}..{node.end_dim} of "
                          f"{list(shape)}); the IR flattens a whole sample")
        return self._add(ir.Flatten(name, (edge,), self._origin(name)))

    def _is_readout(self, name: str) -> bool:
        node = self.g.nodes[name]
        at_output = bool(self.succs[name]) and all(isinstance(self.g.nodes[s], nir.Output) for s in self.succs[name])
        if not (at_output and isinstance(node, (nir.Affine, nir.Linear))):
            return False
        if self.options.readout is not None:
            return self.options.readout
        return _text(_meta(node).get("ir_kind", "")) == "readout"

    def _input_shape(self, name: str, node: nir.Input) -> ir.Shape:
        """The per-sample shape; leading batch dims some exporters keep (norse) are dropped when the consumer
        shows them: an Affine/Linear takes a rank-1 sample, a Conv2d a rank-3 one."""
        shape = tuple(int(s) for s in np.asarray(node.input_type["input"]).reshape(-1))
        for succ in self.succs[name]:
            consumer = self.g.nodes[succ]
            if isinstance(consumer, (nir.Affine, nir.Linear)) and len(shape) > 1 \
                    and shape[-1] == consumer.weight.shape[-1]:
                return shape[-1:]
            if isinstance(consumer, nir.Conv2d) and len(shape) == 4:
                return shape[1:]
        return shape


def load_nir(path: str | os.PathLike[str], *, dt: float | None = None, convention: str = "auto",
             timesteps: int | None = None, readout: bool | None = None, reset: str | None = None) -> NirImport:
    """read_nir with keyword options (the API's and the CLI's entry point)."""
    try:
        return read_nir(path, NirReadOptions(dt=dt, convention=convention, readout=readout, timesteps=timesteps,
                                             reset=reset))
    except CompileError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise error("SNC810", f"{path}: {type(exc).__name__}: {exc}",
                    hint="the file is not a NIR graph snncompile can read; write it with nir.write") from None
