"""Graph rewriting helpers shared by passes: bypass nodes, rewire edges, drop dead nodes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from snncompile.ir import Edge, Graph, Op


def rewire(nodes: Iterable[Op], forward: Mapping[str, Edge]) -> list[Op]:
    """Point every edge from a node in `forward` at its replacement, adding the delays. Nodes whose
    inputs do not change are kept as the same objects."""
    out = []
    for n in nodes:
        new_inputs = tuple(_follow(e, forward) for e in n.inputs)
        out.append(n if new_inputs == n.inputs else n.replace(inputs=new_inputs))
    return out


def _follow(e: Edge, forward: Mapping[str, Edge]) -> Edge:
    delay, src = e.delay, e.src
    while src in forward:
        target = forward[src]
        src, delay = target.src, delay + target.delay
    return Edge(src, delay)


def bypass(graph: Graph, names: Iterable[str]) -> Graph:
    """Remove single-input pass-through nodes, connecting their consumers to their input. An output
    node is only bypassed when its input edge has no delay (an output cannot carry a delay)."""
    forward: dict[str, Edge] = {}
    outputs = set(graph.outputs)
    for name in names:
        (edge,) = graph.node(name).inputs
        if name in outputs and edge.delay:
            continue
        forward[name] = edge
    kept = [n for n in graph.nodes if n.name not in forward]
    new_outputs = [_follow(Edge(o), forward).src for o in graph.outputs]
    return graph.with_nodes(rewire(kept, forward), new_outputs)


def live_nodes(graph: Graph) -> set[str]:
    """Names of the nodes some output depends on."""
    live: set[str] = set()
    stack = list(graph.outputs)
    while stack:
        name = stack.pop()
        if name in live or name not in graph:
            continue
        live.add(name)
        stack.extend(e.src for e in graph.node(name).inputs)
    return live
