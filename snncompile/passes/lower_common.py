"""Shared pieces of lower-mlf and lower-residual: graph rules, synapse kinds, fresh names."""

from __future__ import annotations

import numpy as np

from snncompile import ir
from snncompile.errors import Diagnostic
from snncompile.ir.traits import Normalization, Synapse
from snncompile.passes.base import Rule

NEURONS: tuple[type[ir.Op], ...] = (ir.LIF, ir.MPBNLIF)
"""The Neuron ops the lowering passes give synaptic inputs (R4, R5). A choice of these passes, not a category:
a library neuron (LIFExt) keeps its inputs as converted, which every target that accepts it runs as they are."""


def synapse_of(graph: ir.Graph, edge: ir.Edge) -> ir.Op | None:
    """The synapse op behind a neuron input edge: the source itself, or the op a Flatten reshapes; None
    when the edge comes straight from a population, the input, or another non-synapse op."""
    node = graph.node(edge.src)
    if isinstance(node, ir.Flatten):
        node = graph.node(node.inputs[0].src)
    return node if isinstance(node, Synapse) else None


class NameSource:
    """Hands out node names used neither in a graph nor by an earlier call."""

    def __init__(self, graph: ir.Graph) -> None:
        self.taken = set(graph.by_name)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name


def identity_synapse(name: str, src: ir.Edge, shape: ir.Shape, origin: str) -> ir.Op | None:
    """A one-to-one synapse of weight 1 on a population of `shape`: depthwise 1x1 Conv2d (groups = C) for
    rank 3, identity Dense for rank 1; None for other ranks."""
    if len(shape) == 3:
        return ir.Conv2d(name, (src,), origin, weight=np.ones((shape[0], 1, 1, 1)), groups=shape[0])
    if len(shape) == 1:
        return ir.Dense(name, (src,), origin, weight=np.eye(shape[0]))
    return None


def _diag(node: ir.Op, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic("SNC300", message, node=node.name, origin=node.origin or None, hint=hint)


def _no_norms(graph: ir.Graph) -> list[Diagnostic]:
    return [_diag(n, f"{n.kind} is still in the graph", "run fold-norm first")
            for n in graph.of_kind(Normalization)]


def _binary_neurons(graph: ir.Graph) -> list[Diagnostic]:
    return [_diag(n, f"LIF has {n.levels} levels", "run lower-mlf first")
            for n in graph.of_kind(ir.LIF) if n.levels != 1]


def _no_adds(graph: ir.Graph) -> list[Diagnostic]:
    return [_diag(n, "add node left in the graph", "run lower-residual") for n in graph.of_kind(ir.Add)]


def _synaptic_inputs(graph: ir.Graph) -> list[Diagnostic]:
    return [_diag(n, f"input %{e.src} is not a synapse op", "run lower-residual first")
            for n in graph.of_kind(*NEURONS) for e in n.inputs if synapse_of(graph, e) is None]


NO_NORMS = Rule("no-norm-nodes", _no_norms, "BatchNorm, PSPNorm and MPBNLIF have been folded away")
BINARY_NEURONS = Rule("binary-neurons", _binary_neurons, "every LIF has one level (binary spikes)")
NO_ADDS = Rule("no-adds", _no_adds, "residual sums are synaptic fan-in, no add node is left")
SYNAPTIC_INPUTS = Rule("synaptic-neuron-inputs", _synaptic_inputs,
                       "every neuron input is a Dense, Conv2d or Pool2d (possibly through a Flatten)")
