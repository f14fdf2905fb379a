"""loihi-cuba: library neurons (ir.LIFExt) that Loihi's current-based LIF runs as they are, as scheduled_lif.

Rewrite rules:
  C1  %n = lif_ext{immediate, syn_decay}  ->  %n = scheduled_lif{syn_decay, period 0, phase 0}
      (same equations: i = syn_decay·i + x, h = decay·v + gain·i, reset of v only; Loihi's u is i)
  C2  %n = lif_ext{immediate, no syn_decay}  ->  %n = lif (the same neuron)
Refused with SNC610: delayed and double reset timings (Loihi decides and resets in the same step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.ir.ops_ext import LIFExt
from snncompile.passes.base import Pass, PassContext
from snncompile.targets.loihi.ops import Encode, LoihiLIF, ScheduledLIF, SkipDense, WindowReadout
from snncompile.targets.loihi.structure import diag

TIMING_HINT = {
    "delayed": "snntorch reset_delay=True: retrain with reset_delay=False and reset_mechanism='zero'",
    "double": "snntorch reset_delay=False with 'subtract': retrain with reset_mechanism='zero'",
}


FIXED_POINT_OPS = (LoihiLIF, Encode, SkipDense, WindowReadout, ScheduledLIF)


def _float_source(graph: ir.Graph) -> list[Diagnostic]:
    """A graph already in Loihi's integer form (e.g. read from an onnx-loihi model) cannot be compiled again."""
    fixed = [n for n in graph.nodes if isinstance(n, FIXED_POINT_OPS)]
    if not fixed:
        return []
    return [diag("SNC618", fixed[0], f"the graph is already compiled for Loihi ({len(fixed)} fixed-point or "
                 f"scheduled ops, e.g. `{fixed[0].kind}`): its quantization cannot be redone",
                 "compile the original model for --target loihi; an integer ONNX model runs as it is with "
                 "--target sim or snncompile.targets.onnx.driver.run_onnx")]


@dataclass(frozen=True)
class LoihiCurrentNeurons(Pass):
    name = "loihi-cuba"
    summary = "C1-C2: lif_ext neurons with an immediate reset become (current-based) scheduled LIFs"

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        if already := _float_source(graph):  # the user's mistake, reported with its own code (not SNC300)
            raise CompileError(already)
        if not any(isinstance(n, (ir.LIF, ir.MPBNLIF, LIFExt)) for n in graph.nodes):
            raise CompileError(Diagnostic(
                "SNC608", "the network has no spiking neuron population; Loihi runs neurons, and a graph of "
                "synapses and a readout alone has no netx layer to place them in",
                hint="compile a spiking network (with LIF layers) for Loihi, or use --target sim for this graph"))
        diags: list[Diagnostic] = []
        nodes: list[ir.Op] = []
        for n in graph.nodes:
            if isinstance(n, LIFExt):
                n = self._lower(n, diags)
                ctx.note(f"C1 %{n.name} runs as a current-based Loihi neuron" if isinstance(n, ScheduledLIF)
                         else f"C2 %{n.name} is a plain LIF")
            nodes.append(n)
        if diags:
            raise CompileError(diags)
        return graph.with_nodes(nodes)

    @staticmethod
    def _lower(n: LIFExt, diags: list[Diagnostic]) -> ir.Op:
        if n.reset_timing != "immediate":
            diags.append(diag("SNC610", n, f"reset timing {n.reset_timing!r} (the reset of step t decided by "
                              "the membrane of step t−1); Loihi resets in the step it fires", TIMING_HINT.get(
                                  n.reset_timing, "use an immediate reset")))
            return n
        common: dict[str, Any] = {"decay": n.decay, "threshold": n.threshold[None], "comparison": n.comparison,
                                  "reset": n.reset, "gain": n.gain}
        if n.syn_decay is None:
            return ir.LIF(n.name, n.inputs, n.origin, **common)
        return ScheduledLIF(n.name, n.inputs, n.origin, syn_decay=n.syn_decay, **common)
