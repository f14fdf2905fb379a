"""canonicalize: remove no-op structure so later passes see one canonical form.

Rewrite rules:
  C1  identity(x)                        -> x         (nn.Identity, eval-mode dropout)
  C2  flatten(x), x already rank 1       -> x         (also merges flatten(flatten(x)))
  C3  add(x) with one operand            -> x
  C4  add(add(a, b), c), inner add used once, no delay -> add(a, b, c)
      (only a *first* operand is merged: a + b + c keeps its left-to-right float summation order)
  C5  pool2d / maxpool2d with a 1x1 window, stride 1, no padding -> x
  C6  nodes no output depends on are removed (inputs are always kept)
"""

from __future__ import annotations

from dataclasses import dataclass

from snncompile import ir
from snncompile.ir.traits import Pooling
from snncompile.passes.base import Pass, PassContext
from snncompile.passes.rewrite import bypass, live_nodes


def _is_passthrough(node: ir.Op, graph: ir.Graph) -> str | None:
    if isinstance(node, ir.Identity):
        return f"C1 dropped {node.reason} %{node.name}"
    if isinstance(node, ir.Flatten) and len(graph.shapes[node.inputs[0].src]) == 1:
        return f"C2 dropped redundant flatten %{node.name}"
    if isinstance(node, ir.Add) and len(node.inputs) == 1:
        return f"C3 dropped single-operand add %{node.name}"
    if isinstance(node, Pooling) and node.kernel == (1, 1) and node.stride == (1, 1) \
            and node.padding == (0, 0):
        return f"C5 dropped 1x1 pooling %{node.name}"
    return None


@dataclass(frozen=True)
class Canonicalize(Pass):
    name = "canonicalize"
    summary = "drop identity/dropout, redundant flattens, trivial adds and pools, dead nodes; merge add chains"

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        reasons = {n.name: r for n in graph.nodes if (r := _is_passthrough(n, graph))}
        bypassed = bypass(graph, reasons)
        for name, reason in reasons.items():
            if name not in bypassed:
                ctx.note(reason)
        graph = bypassed
        graph = self._merge_adds(graph, ctx)
        live = live_nodes(graph)
        dead = [n.name for n in graph.nodes if n.name not in live and not isinstance(n, ir.Input)]
        for name in dead:
            ctx.note(f"C6 removed dead node %{name}")
        return graph.with_nodes([n for n in graph.nodes if n.name not in dead])

    @staticmethod
    def _merge_adds(graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        nodes = {n.name: n for n in graph.nodes}
        merged: set[str] = set()
        for n in graph.nodes:
            if not isinstance(n, ir.Add):
                continue
            current = nodes[n.name]
            first = current.inputs[0]
            inner = nodes.get(first.src)
            while (isinstance(inner, ir.Add) and first.delay == 0 and first.src not in graph.outputs
                   and len(graph.consumers(first.src)) == 1):
                current = current.replace(inputs=inner.inputs + current.inputs[1:])
                merged.add(inner.name)
                ctx.note(f"C4 merged %{inner.name} into %{n.name}")
                first = current.inputs[0]
                inner = nodes.get(first.src)
            nodes[n.name] = current
        return graph.with_nodes(n for name, n in nodes.items() if name not in merged)
