"""legalize-threshold: give every LIF population one threshold by rescaling each neuron's incoming synapse rows.

For a binary LIF population with per-neuron thresholds θ_n and a shared target θ0, neuron n gets the
factor c_n = θ0 / θ_n > 0 and every synapse row into it is multiplied by c_n:

  L1  dense row n:                  W'[n, :] = c_n · W[n, :],        b'_n = c_n · b_n
  L2  conv2d output channel o:      W'[o, ...] = c_o · W[o, ...],    b'_o = c_o · b_o   (c constant over o's positions)
  L3  pool2d feeding the neuron  -> depthwise conv2d {groups=C} with weight c_o/(kh·kw) (avg) or c_o (sum)
  L4  flatten between synapse and neuron: c is mapped back through the C-major flatten
  L5  a synapse (or flatten) that also feeds other nodes or is a graph output is first copied, as
      %syn.for.<neuron>; one only this neuron reads is rescaled in place
  L6  threshold := θ0 everywhere; decay, gain, comparison, reset, delays and graph metadata are kept
  L7  (gain_fallback=True) when c varies inside a conv/pool channel, c_n is folded into the neuron's
      per-neuron input gain instead (gain' = c·gain), with no synapse changes

Why exact: with v' = c·v, the update h' = decay·v' + gain·(c·x) = c·h, and for c > 0
[c·h > c·θ] = [h > θ] (also for ≥), so spikes agree; reset "zero" maps 0 to 0, reset "none" keeps
h' = c·h, and reset "subtract" subtracts c·θ = θ0, so v' = c·v holds at every step for every reset.
In float the scaled sums round differently (~1e-16 relative): only float near-ties can flip.

θ0 is the option `reference`; None picks each population's largest threshold (c_n ≥ 1, and a population
whose thresholds already agree is left untouched). Thresholds ≤ 0 or non-finite raise SNC530, listing
every offending channel or neuron of every population; a per-neuron factor that a shared conv kernel
cannot carry raises SNC531 unless gain_fallback is set. Needs lower-mlf (binary neurons), fold-norm (no
norm nodes) and lower-residual (every neuron input a synapse op) to have run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic, error
from snncompile.passes.base import Pass, PassContext
from snncompile.passes.legalize_checks import threshold_diagnostics
from snncompile.passes.lower_common import BINARY_NEURONS, NO_NORMS, SHARED_THRESHOLDS, SYNAPTIC_INPUTS, NameSource

OUTPUT = "<output>"


@dataclass(frozen=True)
class Chain:
    """Neuron input `index` reaches synapse op `synapse`, possibly through `flatten`; `rows` are the factors
    per output row (dense) or channel (conv, pool), None when the synapse cannot carry them."""

    index: int
    synapse: ir.Op
    flatten: ir.Op | None
    rows: np.ndarray | None


@dataclass(frozen=True)
class Plan:
    neuron: ir.LIF
    theta0: float
    scale: np.ndarray
    chains: tuple[Chain, ...]


def scale_rows(op: ir.Op, rows: np.ndarray) -> ir.Op:
    """L1-L3: `op` with output row/channel o multiplied by rows[o]."""
    if isinstance(op, ir.Dense):
        bias = None if op.bias is None else op.bias * rows
        return op.replace(weight=op.weight * rows[:, None], bias=bias)
    if isinstance(op, ir.Conv2d):
        bias = None if op.bias is None else op.bias * rows
        return op.replace(weight=op.weight * rows[:, None, None, None], bias=bias)
    if isinstance(op, ir.Pool2d):
        kh, kw = op.kernel
        per_tap = rows / (kh * kw) if op.mode == "avg" else rows
        weight = np.ones((rows.size, 1, kh, kw)) * per_tap[:, None, None, None]
        return ir.Conv2d(op.name, op.inputs, op.origin, weight=weight, stride=op.stride, padding=op.padding,
                         groups=rows.size)
    raise TypeError(f"cannot scale the rows of {op.kind}")


def _rows(graph: ir.Graph, synapse: ir.Op, scale: np.ndarray) -> np.ndarray | None:
    c = scale.reshape(graph.shapes[synapse.name])  # a flatten is C-major, like numpy's reshape
    if isinstance(synapse, ir.Dense):
        return c
    per_channel = c.reshape(c.shape[0], -1)
    return per_channel[:, 0] if np.all(per_channel == per_channel[:, :1]) else None


def plan_neuron(graph: ir.Graph, neuron: ir.LIF, reference: float | None) -> Plan | None:
    """The factors c_n = θ0/θ_n of one population and the synapse chains they go into; None if all c_n = 1."""
    theta = neuron.threshold[0]
    theta0 = float(np.max(theta)) if reference is None else float(reference)
    scale = theta0 / theta
    if np.all(scale == 1.0):
        return None
    chains = []
    for i, edge in enumerate(neuron.inputs):
        node = graph.node(edge.src)
        flatten = node if isinstance(node, ir.Flatten) else None
        synapse = graph.node(node.inputs[0].src) if flatten is not None else node
        chains.append(Chain(i, synapse, flatten, _rows(graph, synapse, scale)))
    return Plan(neuron, theta0, scale, tuple(chains))


def inexpressible(plan: Plan) -> list[Diagnostic]:
    """SNC531 for each synapse that would need different factors at positions of one shared kernel."""
    n = plan.neuron
    return [Diagnostic(
        "SNC531", f"thresholds of %{n.name} vary within output channels of {c.synapse.kind} %{c.synapse.name} "
        f"(θ from {np.min(n.threshold):.4g} to {np.max(n.threshold):.4g}); a shared kernel cannot scale single "
        "positions", node=n.name, origin=n.origin or None,
        hint="use a target with per-neuron thresholds, or legalize-threshold{gain_fallback=True} to fold the "
             "factors into the neuron's per-neuron input gain")
        for c in plan.chains if c.rows is None]


def _users(graph: ir.Graph) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {n.name: [c.name for c in graph.consumers(n.name)] for n in graph.nodes}
    for name in graph.outputs:
        users[name].append(OUTPUT)
    return users


@dataclass
class _Rewriter:
    """Applies plans to a graph, copying shared synapses (L5) and keeping the node order."""

    graph: ir.Graph
    names: NameSource
    nodes: dict[str, ir.Op] = field(default_factory=dict)
    inserted: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, list[str]] = field(default_factory=dict)
    scaled: set[str] = field(default_factory=set)
    copies: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nodes = {n.name: n for n in self.graph.nodes}
        self.users = _users(self.graph)

    def exclusive(self, name: str, reader: str) -> bool:
        return all(u == reader for u in self.users[name])

    def rewire(self, old: str, new: str, reader: str) -> None:
        self.users[old].remove(reader)
        self.users.setdefault(new, []).append(reader)

    def copy(self, op: ir.Op, neuron: str, **changes: object) -> ir.Op:
        new = op.replace(name=self.names.fresh(f"{op.name}.for.{neuron}"), **changes)
        self.nodes[new.name] = new
        self.inserted.setdefault(neuron, []).append(new.name)
        self.copies.append(new.name)
        return new

    def scaled_synapse(self, chain: Chain, reader: str, neuron: str) -> ir.Op:
        """The rescaled synapse for `reader`: in place when `reader` alone reads it, else a copy (L5)."""
        syn = chain.synapse
        if self.exclusive(syn.name, reader):
            if syn.name not in self.scaled:
                self.nodes[syn.name] = scale_rows(syn, chain.rows)  # type: ignore[arg-type]
                self.scaled.add(syn.name)
            return self.nodes[syn.name]
        new = self.copy(scale_rows(syn, chain.rows), neuron)  # type: ignore[arg-type]
        self.rewire(syn.name, new.name, reader)
        return new

    def chain_edge(self, chain: Chain, neuron: ir.LIF) -> ir.Edge:
        """The neuron's new input edge for one chain (delay kept)."""
        edge = neuron.inputs[chain.index]
        flat = chain.flatten
        if flat is None:
            return ir.Edge(self.scaled_synapse(chain, neuron.name, neuron.name).name, edge.delay)
        (flat_in,) = flat.inputs
        if not self.exclusive(flat.name, neuron.name):
            # a shared flatten: the neuron gets its own flatten, which alone reads a scaled synapse copy
            new_flat = self.copy(flat, neuron.name)
            self.rewire(flat.name, new_flat.name, neuron.name)
            self.users[flat_in.src].append(new_flat.name)
            flat, edge = new_flat, ir.Edge(new_flat.name, edge.delay)
        if flat.name not in self.scaled:
            syn = self.scaled_synapse(chain, flat.name, neuron.name)
            if flat.name in self.inserted.get(neuron.name, ()):  # keep the flatten copy after its synapse
                self.inserted[neuron.name].remove(flat.name)
                self.inserted[neuron.name].append(flat.name)
            self.nodes[flat.name] = flat.replace(inputs=(ir.Edge(syn.name, flat_in.delay),))
            self.scaled.add(flat.name)
        return edge

    def apply(self, plan: Plan, gain: bool) -> None:
        n = plan.neuron
        theta = np.full_like(n.threshold, plan.theta0)
        if gain:
            old_gain = np.ones_like(plan.scale) if n.gain is None else n.gain
            self.nodes[n.name] = n.replace(threshold=theta, gain=old_gain * plan.scale)
            return
        inputs = [self.chain_edge(c, n) for c in plan.chains]
        self.nodes[n.name] = n.replace(threshold=theta, inputs=tuple(inputs))

    def result(self) -> ir.Graph:
        order = [self.nodes[name] for node in self.graph.nodes
                 for name in (*self.inserted.get(node.name, ()), node.name)]
        return self.graph.with_nodes(order)


@dataclass(frozen=True)
class LegalizeThreshold(Pass):
    reference: float | None = None
    gain_fallback: bool = False

    name = "legalize-threshold"
    summary = "one threshold per LIF population: rescale each neuron's incoming synapse rows by θ0/θ_n"
    requires = (NO_NORMS, BINARY_NEURONS, SYNAPTIC_INPUTS)
    ensures = (SHARED_THRESHOLDS,)

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        if self.reference is not None and not (math.isfinite(self.reference) and self.reference > 0):
            raise error("SNC205", f"legalize-threshold: reference must be positive and finite, got {self.reference}",
                        hint="e.g. legalize-threshold{reference=1}")
        bad = threshold_diagnostics(graph)
        if bad:
            raise CompileError(bad)
        plans = [p for n in graph.of_kind(ir.LIF) if (p := plan_neuron(graph, n, self.reference)) is not None]
        problems = {p.neuron.name: inexpressible(p) for p in plans}
        if not self.gain_fallback and any(problems.values()):
            raise CompileError(d for diags in problems.values() for d in diags)
        rewriter = _Rewriter(graph, NameSource(graph))
        for plan in plans:
            by_gain = bool(problems[plan.neuron.name])
            rewriter.apply(plan, by_gain)
            _note(ctx, plan, by_gain)
        _stats(ctx, plans, problems, rewriter.copies)
        return rewriter.result() if plans else graph


def _note(ctx: PassContext, plan: Plan, by_gain: bool) -> None:
    theta = plan.neuron.threshold
    where = "the neuron's input gain (L7)" if by_gain else \
        ", ".join(f"%{c.synapse.name}" for c in plan.chains)
    ctx.note(f"L6 %{plan.neuron.name}: θ in [{np.min(theta):.6g}, {np.max(theta):.6g}] -> θ0 = {plan.theta0:.6g}; "
             f"scaled ×[{np.min(plan.scale):.6g}, {np.max(plan.scale):.6g}] into {where}")


def _stats(ctx: PassContext, plans: Iterable[Plan], problems: dict[str, list[Diagnostic]],
           copies: list[str]) -> None:
    plans = list(plans)
    scales = [float(f(p.scale)) for p in plans for f in (np.min, np.max)]
    ctx.stats.update(populations_rescaled=len(plans), synapse_copies=len(copies),
                     gain_folds=sum(1 for v in problems.values() if v),
                     max_scale=max(scales, default=1.0), min_scale=min(scales, default=1.0))
    if plans:
        worst = max(plans, key=lambda p: float(np.max(np.abs(np.log(p.scale)))))
        ctx.note(f"largest rescaling: ×{np.max(worst.scale):.6g} / ×{np.min(worst.scale):.6g} at "
                 f"%{worst.neuron.name}; {len(copies)} synapse copies made")
