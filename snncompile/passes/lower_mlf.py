"""lower-mlf: split every multi-level (MLF) LIF population into K binary LIF populations and an add.

Rewrite rule:
  M1  %n = lif(x_1@d_1, .., x_m@d_m) {θ: [K, ...], K > 1}  ->
          %n.level{k} = lif(x_1@d_1, .., x_m@d_m) {θ[k:k+1]}      k = 0 .. K−1
          %n          = add(%n.level0, .., %n.level{K−1})
      Each level keeps the input edges (delays included), decay, gain, comparison, reset and origin.

Why exact: ir.LIF's levels already have independent membranes driven by the same x[t],
    h_k[t] = decay·v_k[t−1] + gain·x[t],  s_k[t] = [h_k[t] > θ_k],  v_k reset by s_k alone,
    out[t] = Σ_k s_k[t]
so level k is a binary LIF with threshold θ_k, and the add reproduces out[t] (integers: no rounding).
One shared membrane emitting a graded count is *not* equivalent (FOLDING.md §7).

The add keeps the name %n, so consumers are untouched; lower-residual then gives each consumer one copy
of its synapses per level (W·out = Σ_k W·s_k). K = 1 populations are left as they are (same objects).
Any reset kind and both comparisons lower alike, and graph metadata (timesteps) is kept. An MLF population
that is itself a graph output leaves its add as the output, which lower-residual refuses (SNC521).
"""

from __future__ import annotations

from dataclasses import dataclass

from snncompile import ir
from snncompile.passes.base import Pass, PassContext
from snncompile.passes.lower_common import BINARY_NEURONS, NameSource


def level_name(name: str, k: int) -> str:
    """Name of level k of the lowered MLF population `name` (snncompile.verification.compare matches on it)."""
    return f"{name}.level{k}"


def split_levels(node: ir.LIF, names: NameSource) -> list[ir.Op]:
    """M1: the K binary level populations of `node`, followed by the add named like `node`."""
    levels = [node.replace(name=names.fresh(level_name(node.name, k)), threshold=node.threshold[k:k + 1])
              for k in range(node.levels)]
    total = ir.Add(node.name, tuple(ir.Edge(lv.name) for lv in levels), node.origin)
    return [*levels, total]


@dataclass(frozen=True)
class LowerMLF(Pass):
    name = "lower-mlf"
    summary = "split K-level LIF populations into K binary LIF populations summed by an add"
    ensures = (BINARY_NEURONS,)

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        names = NameSource(graph)
        nodes: list[ir.Op] = []
        split = added = 0
        for node in graph.nodes:
            if isinstance(node, ir.LIF) and node.levels > 1:
                parts = split_levels(node, names)
                ctx.note(f"M1 split %{node.name} ({node.levels} levels) into "
                         + ", ".join(f"%{p.name}" for p in parts[:-1]))
                nodes += parts
                split, added = split + 1, added + node.levels
            else:
                nodes.append(node)
        ctx.stats.update(mlf_split=split, populations_added=added)
        return graph if not split else graph.with_nodes(nodes)
