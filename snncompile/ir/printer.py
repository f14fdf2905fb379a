"""Deterministic text form of a Graph: one line per node, options and parameter shapes, never values."""

from __future__ import annotations

from snncompile.ir.base import Edge, Shape, ShapeError
from snncompile.ir.graph import Graph


def _edge(e: Edge) -> str:
    return f"%{e.src}" if e.delay == 0 else f"%{e.src}@{e.delay}"


def _shape(shape: Shape | None) -> str:
    return "?" if shape is None else "[" + ",".join(map(str, shape)) + "]"


def print_graph(graph: Graph, *, origins: bool = True) -> str:
    """Text form: `%name = kind(%in, %in@delay) {options} : [shape]  # origin`."""
    try:
        shapes = dict(graph.shapes)
    except (ShapeError, KeyError, ValueError):
        shapes = {}
    lines = []
    meta = ", ".join(f"{k}={v}" for k, v in sorted(graph.metadata.items()))
    lines.append(f"graph ({meta}) {{" if meta else "graph {")
    for n in graph.nodes:
        args = ", ".join(_edge(e) for e in n.inputs)
        summary = n.summary()
        text = f"  %{n.name} = {n.kind}({args})"
        if summary:
            text += f" {{{summary}}}"
        text += f" : {_shape(shapes.get(n.name))}"
        if origins and n.origin and n.origin != n.name:
            text += f"  # {n.origin}"
        lines.append(text)
    lines.append("  return " + ", ".join(f"%{o}" for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines)
