"""Per-node size figures: neurons, synapses (connections) and parameter counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncompile.ir.base import Op, Shape
from snncompile.ir.graph import Graph
from snncompile.ir.ops_neuron import LIF, MPBNLIF
from snncompile.ir.ops_synapse import Conv2d, Dense, MaxPool2d, Pool2d


@dataclass(frozen=True)
class NodeStats:
    name: str
    kind: str
    origin: str
    shape: Shape
    neurons: int
    synapses: int
    parameters: int


def synapse_count(node: Op, shape: Shape) -> int:
    """Synaptic connections of a dense, conv or pooling node with output `shape` (0 for other ops)."""
    out = int(np.prod(shape))
    if isinstance(node, Dense):
        return int(node.weight.size)
    if isinstance(node, Conv2d):
        _, ci_g, kh, kw = node.weight.shape
        return out * ci_g * kh * kw
    if isinstance(node, (Pool2d, MaxPool2d)):
        return out * node.kernel[0] * node.kernel[1]
    return 0


def node_stats(graph: Graph) -> list[NodeStats]:
    """Figures for every node: neurons (× levels for MLF), synaptic connections, stored parameters."""
    rows = []
    for n in graph.nodes:
        shape = graph.shapes[n.name]
        neurons = 0
        if isinstance(n, LIF):
            neurons = int(np.prod(shape)) * n.levels
        elif isinstance(n, MPBNLIF):
            neurons = int(np.prod(shape))
        params = sum(int(getattr(n, f).size) for f in n.array_fields() if getattr(n, f) is not None)
        rows.append(NodeStats(n.name, n.kind, n.origin, shape, neurons, synapse_count(n, shape), params))
    return rows
