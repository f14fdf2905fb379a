"""lower-residual: turn residual adds into synaptic fan-in, with one synapse copy per source population.

Rewrite rules (a sum Σ is an add with nested adds flattened; x_i@d_i are its terms):
  R1  add(add(a, b)@d, c)          -> terms a@d, b@d, c            (nested sums flatten, delays add up)
  R2  dense/conv2d(Σ x_i@d_i)      -> Σ_i %op.from.<x_i> = dense/conv2d(x_i@d_i), the bias on the first copy only
  R3  pool2d/flatten/identity(Σ x_i@d_i) -> Σ_i %op.from.<x_i> = the same op over x_i@d_i (linear, no bias)
  R4  lif/mpbn_lif/readout(.., Σ@e, ..) -> lif(.., x_1@(d_1+e), .., x_n@(d_n+e), ..)  (fan-in, summed in order)
  R5  neuron input that is no synapse op (spikes of a population, the graph input, a max-pool, ...) ->
      explicit one-to-one synapse of weight 1, %src.to.<neuron>: conv2d {1x1, groups=C} for rank 3,
      dense {identity} for rank 1; the edge delay stays on the neuron's input edge
  R6  every add node is removed
<x_i> names the population the term comes from (e.g. %conv2.from.block1.mlf2.level0).

Why exact: for a linear per-step op, op(Σ_i D_{d_i} x_i) = Σ_i op_i(D_{d_i} x_i) + b with b added exactly once
(D_d shifts by d steps with zeros, which is linear); a consumer edge delay e shifts the whole sum, bias
included, so it goes onto every term. Neurons and readouts sum their inputs in order before anything else.
Values agree up to float regrouping (~1e-16 relative), so spikes agree except at float near-ties.

Errors (all collected before raising): SNC520 a non-linear op (max-pool) reads a sum; SNC521 a sum is
a graph output; SNC522 R5 on a population whose rank is neither 1 nor 3; SNC523 a sum on a loop with no
neuron. Graph metadata (timesteps) and neuron options (comparison ">=" of S2NN, ...) are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.ir.traits import Output, PassThrough, Synapse, WeightedSynapse
from snncompile.passes.base import Pass, PassContext
from snncompile.passes.lower_common import (
    NEURONS,
    NO_ADDS,
    NO_NORMS,
    SYNAPTIC_INPUTS,
    NameSource,
    identity_synapse,
    synapse_of,
)

Term = tuple[ir.Edge, str]
"""One summand: an edge into a node that survives the pass, and the population it stems from."""

LINEAR: tuple[type, ...] = (Synapse, PassThrough)
"""Ops that distribute over a sum, so they are split over its terms (R2, R3)."""
FAN_IN: tuple[type, ...] = (*NEURONS, Output)
"""Ops that take a sum as several fan-in inputs (R4)."""


def bias_share(op: ir.Op, index: int) -> object:
    """R2: the bias of copy `index` of a split synapse: the whole bias on the first copy, none elsewhere."""
    return getattr(op, "bias", None) if index == 0 else None


def copy_synapse(op: ir.Op, index: int, edge: ir.Edge, name: str) -> ir.Op:
    """Copy `index` of a linear op split over a sum, reading one term."""
    changes: dict[str, object] = {"name": name, "inputs": (edge,)}
    if isinstance(op, WeightedSynapse):
        changes["bias"] = bias_share(op, index)
    return op.replace(**changes)


def _diag(code: str, message: str, node: ir.Op, hint: str) -> Diagnostic:
    return Diagnostic(code, message, node=node.name, origin=node.origin or None, hint=hint)


@dataclass
class _Distributor:
    """Expands every node into the terms it sums (R1-R3, memoized) and records the nodes replacing it."""

    graph: ir.Graph
    names: NameSource
    ctx: PassContext
    terms: dict[str, list[Term]] = field(default_factory=dict)
    copies: dict[str, list[ir.Op]] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def edge_terms(self, edge: ir.Edge) -> list[Term]:
        return [(ir.Edge(t.src, t.delay + edge.delay), root) for t, root in self.expand(edge.src)]

    def expand(self, name: str) -> list[Term]:
        node = self.graph.node(name)
        if not isinstance(node, (ir.Add, *LINEAR)):
            return [(ir.Edge(name), name)]
        if name not in self.terms:
            if name in self.active:
                raise CompileError(_diag("SNC523", "a residual sum lies on a loop that passes no neuron", node,
                                         "recurrent loops must go through a spiking population"))
            self.active.add(name)
            self.terms[name] = self._sum_terms(node) if isinstance(node, ir.Add) else self._split(node)
            self.active.discard(name)
        return self.terms[name]

    def _sum_terms(self, node: ir.Op) -> list[Term]:
        return [t for e in node.inputs for t in self.edge_terms(e)]

    def _split(self, node: ir.Op) -> list[Term]:
        terms = self.edge_terms(node.inputs[0])
        if len(terms) == 1:
            return [(ir.Edge(node.name), node.name)]
        copies = [copy_synapse(node, i, edge, self.names.fresh(f"{node.name}.from.{root}"))
                  for i, (edge, root) in enumerate(terms)]
        rule = "R2" if isinstance(node, WeightedSynapse) else "R3"
        self.ctx.note(f"{rule} split %{node.name} over {len(terms)} terms into "
                      + ", ".join(f"%{c.name}" for c in copies))
        self.copies[node.name] = copies
        return [(ir.Edge(c.name), root) for c, (_, root) in zip(copies, terms, strict=True)]

    def rewrite(self, node: ir.Op) -> list[ir.Op]:
        """The nodes that replace `node` in the lowered graph (R4 for fan-in ops, R6 for adds)."""
        if isinstance(node, ir.Add):
            return []
        if isinstance(node, LINEAR) and len(self.expand(node.name)) > 1:
            return self.copies[node.name]
        if isinstance(node, FAN_IN):
            inputs = [edge for e in node.inputs for edge, _ in self.edge_terms(e)]
            if len(inputs) > len(node.inputs):
                self.ctx.note(f"R4 %{node.name} takes {len(inputs)} fan-in inputs")
        else:
            inputs = [self._single(node, e) for e in node.inputs]
        return [node if tuple(inputs) == node.inputs else node.replace(inputs=tuple(inputs))]

    def _single(self, node: ir.Op, edge: ir.Edge) -> ir.Edge:
        terms = self.edge_terms(edge)
        if len(terms) > 1:
            self.diagnostics.append(_diag(
                "SNC520", f"{node.kind} reads a sum of {len(terms)} terms (%{edge.src}); a non-linear op "
                "cannot be split into synaptic fan-in", node,
                "apply the pooling before the residual add, or use average pooling (linear)"))
            return edge
        return terms[0][0]

    def output(self, name: str) -> str:
        terms = self.expand(name)
        (edge, _), *rest = terms
        if rest or edge.delay:
            node = self.graph.node(name)
            self.diagnostics.append(_diag(
                "SNC521", f"graph output %{name} is a sum of {len(terms)} populations", node,
                "end the network with a readout (or a neuron) that takes the sum as fan-in"))
            return name
        return edge.src


@dataclass(frozen=True)
class LowerResidual(Pass):
    name = "lower-residual"
    summary = "residual adds become synaptic fan-in (one synapse copy per source); explicit identity synapses"
    requires = (NO_NORMS,)
    ensures = (NO_ADDS, SYNAPTIC_INPUTS)

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        names = NameSource(graph)
        dist = _Distributor(graph, names, ctx)
        nodes = [new for node in graph.nodes for new in dist.rewrite(node)]
        outputs = [dist.output(o) for o in graph.outputs]
        if dist.diagnostics:
            raise CompileError(dist.diagnostics)
        adds = len(graph.of_kind(ir.Add))
        lowered = graph.with_nodes(nodes, outputs) if adds or dist.copies else graph
        lowered, identities = explicit_synapses(lowered, names, ctx)
        ctx.stats.update(adds_removed=adds, synapse_copies=sum(len(c) for c in dist.copies.values()),
                         ops_split=len(dist.copies), identity_synapses=identities)
        return lowered


def explicit_synapses(graph: ir.Graph, names: NameSource, ctx: PassContext) -> tuple[ir.Graph, int]:
    """R5: give every neuron input that is no synapse op an explicit one-to-one synapse of weight 1."""
    shapes = graph.shapes
    nodes: list[ir.Op] = []
    diagnostics: list[Diagnostic] = []
    made = 0
    for node in graph.nodes:
        inputs = list(node.inputs)
        for i, e in enumerate(node.inputs if isinstance(node, NEURONS) else ()):
            if synapse_of(graph, e) is not None:
                continue
            syn = identity_synapse(names.fresh(f"{e.src}.to.{node.name}"), ir.Edge(e.src), shapes[e.src],
                                   node.origin)
            if syn is None:
                diagnostics.append(_diag("SNC522", f"no one-to-one synapse for the rank-{len(shapes[e.src])} "
                                         f"input %{e.src}", node, "flatten the population first"))
                continue
            ctx.note(f"R5 %{e.src} -> %{node.name} through one-to-one %{syn.name}")
            nodes.append(syn)
            inputs[i], made = ir.Edge(syn.name, e.delay), made + 1
        nodes.append(node if tuple(inputs) == node.inputs else node.replace(inputs=tuple(inputs)))
    if diagnostics:
        raise CompileError(diagnostics)
    return (graph.with_nodes(nodes) if made else graph), made
