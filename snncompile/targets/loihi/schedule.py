"""loihi-maxpool and loihi-schedule: max-pooling as OR populations; per-hop delays, netx layers and resets.

Rewrite rules:
  S0  %m = maxpool2d(%p), p a binary population  ->  %m.or = conv2d(%p) {ones, groups=C, same window}
                                                      %m    = lif(%m.or) {θ = 1/2, decay 1/2, reset zero}
      Exact: binary spikes summed over the window exceed 1/2 iff one of them is 1, and the OR neuron's
      membrane is 0 after every step (reset when it fires, 1/2 · 0 + 0 otherwise).
  S1  populations with identical inputs (MLF levels) form one netx layer; layers are ordered
      topologically, preferring a layer fed by the one before (the netx chain synapse); depth p = the
      layer's chain index (input 0), so every hop q → p is realizable: one step + a delay of p − q − 1.
  S2  every population input edge gets delay p − q (q: depth of the population or input the synapse
      reads); the population becomes scheduled_lif {period = T, phase = p}: state cleared at steps
      t ≡ p (mod T), exactly when a sample's first input arrives (netx reset_interval = T, reset_offset = 1).
  S3  a readout becomes window_readout {start = L, length = T} with input edges delayed by L − q,
      L = the number of layers (the latency); the graph runs T + L steps.
Why exact: population p sees at step t + p what the zero-delay model saw at step t, from a zero state;
whatever it integrated before (biases during warm-up, the previous sample) is cleared by the reset.
A network whose neurons are all memoryless (decay 0) uses period 1 instead (every step is independent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.ir.traits import is_float_neuron
from snncompile.passes.base import Pass, PassContext, Rule
from snncompile.targets.loihi.caps import DELAY_MAX
from snncompile.targets.loihi.ops import ScheduledLIF, WindowReadout
from snncompile.targets.loihi.structure import SynapticInput, diag, host_source, synaptic_inputs


def _only_plain_lif(graph: ir.Graph) -> list[Diagnostic]:
    """Loihi's CUBA neuron is reached from ir.LIF only; other neuron kinds must be refused, not crash."""
    return [Diagnostic("SNC610", f"`{n.kind}` neurons (e.g. a synaptic current or a delayed reset) have no "
                       "exact Loihi CUBA encoding yet", node=n.name, origin=n.origin or None,
                       hint="use a plain LIF (reset applied in the same step) or compile with --target sim/nir")
            for n in graph.nodes if is_float_neuron(n) and not isinstance(n, ir.LIF)]


@dataclass(frozen=True)
class LowerMaxPool(Pass):
    name = "loihi-maxpool"
    summary = "S0: max-pooling of binary spikes becomes an OR population fed by a ones depthwise conv"
    requires = (Rule("loihi-plain-lif", _only_plain_lif, "every neuron is an ir.LIF"),)

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        nodes: list[ir.Op] = []
        diags: list[Diagnostic] = []
        for n in graph.nodes:
            if not isinstance(n, ir.MaxPool2d):
                nodes.append(n)
                continue
            src = graph.node(n.inputs[0].src)
            if not (isinstance(src, ir.LIF) and src.levels == 1):
                diags.append(diag("SNC602", n, f"max-pooling of %{src.name} ({src.kind}), not of binary spikes",
                                  "Loihi can pool binary spikes only (as an OR population)"))
                continue
            nodes += _or_population(n, graph.shapes[n.inputs[0].src], graph.shapes[n.name])
            ctx.note(f"S0 %{n.name} became an OR population")
        if diags:
            raise CompileError(diags)
        return graph.with_nodes(nodes)


def _or_population(n: ir.MaxPool2d, in_shape: ir.Shape, out_shape: ir.Shape) -> list[ir.Op]:
    c = in_shape[0]
    conv = ir.Conv2d(f"{n.name}.or", n.inputs, n.origin, weight=np.ones((c, 1, *n.kernel)), stride=n.stride,
                     padding=n.padding, dilation=n.dilation, groups=c)
    lif = ir.LIF(n.name, (ir.Edge(conv.name),), n.origin, decay=np.full(out_shape, 0.5),
                 threshold=np.full((1, *out_shape), 0.5), comparison=">", reset="zero")
    return [conv, lif]


def _stack_key(p: ir.LIF) -> tuple[object, ...]:
    gain = None if p.gain is None else p.gain.tobytes()
    syn = getattr(p, "syn_decay", None)
    return (tuple((e.src, e.delay) for e in p.inputs), p.decay.shape, p.decay.tobytes(), p.comparison,
            p.reset, gain, None if syn is None else syn.tobytes())


def netx_layers(graph: ir.Graph, inputs: dict[str, list[SynapticInput]]) -> list[list[str]]:
    """S1: populations grouped into layers (identical inputs) in chain order."""
    groups: dict[tuple[object, ...], list[str]] = {}
    for p in graph.of_kind(ir.LIF):
        groups.setdefault(_stack_key(p), []).append(p.name)
    layers = list(groups.values())
    layer_of = {name: i for i, layer in enumerate(layers) for name in layer}
    deps = [{layer_of[s.source] for name in layer for s in inputs[name] if s.source in layer_of}
            for layer in layers]
    order: list[int] = []
    while len(order) < len(layers):
        ready = [i for i in range(len(layers)) if i not in order and deps[i] <= set(order)]
        fed = [i for i in ready if order and order[-1] in deps[i]]
        order.append((fed or ready)[0])
    return [layers[i] for i in order]


@dataclass(frozen=True)
class LoihiSchedule(Pass):
    name = "loihi-schedule"
    summary = "S1-S3: netx layers in chain order, one step per synaptic hop, delays, resets, readout window"
    timesteps: int | None = None

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        diags: list[Diagnostic] = []
        steps = self.timesteps or graph.timesteps
        if steps is None:
            diags.append(Diagnostic("SNC603", "the number of timesteps T is unknown; Loihi's reset schedule "
                                    "needs it", hint="pass --timesteps or set model.timesteps"))
        inputs = {p.name: synaptic_inputs(graph, p, diags) for p in graph.of_kind(ir.LIF)}
        for p in graph.of_kind(ir.LIF):
            diags += [diag("SNC604", p, f"edge from %{s.source} already carries a delay of {s.delay} step(s)",
                           "explicit delays are not supported by the Loihi target yet")
                      for s in inputs[p.name] if s.delay]
        if diags:
            raise CompileError(diags)
        layers = netx_layers(graph, inputs)
        pos = {n.name: 0 for n in graph.of_kind(ir.Input)}
        pos.update({name: i for i, layer in enumerate(layers, start=1) for name in layer})
        latency = len(layers)
        memoryless = all(np.all(p.decay == 0) and not np.any(getattr(p, "syn_decay", None))
                         for p in graph.of_kind(ir.LIF))
        period = 1 if memoryless else int(steps)  # type: ignore[arg-type]
        nodes = [self._node(graph, n, inputs, pos, period, latency, int(steps), diags)  # type: ignore[arg-type]
                 for n in graph.nodes]
        if diags:
            raise CompileError(diags)
        ctx.note(f"S1 {len(graph.of_kind(ir.LIF))} populations in {latency} netx layers; latency {latency}")
        ctx.stats.update(latency=latency, layers=latency, period=period)
        meta = {"layers": layers, "latency": latency, "period": period, "timesteps": int(steps)}  # type: ignore[arg-type]
        return graph.with_nodes(nodes, loihi=meta)

    @staticmethod
    def _node(graph: ir.Graph, n: ir.Op, inputs: dict[str, list[SynapticInput]], pos: dict[str, int],
              period: int, latency: int, steps: int, diags: list[Diagnostic]) -> ir.Op:
        if isinstance(n, ir.LIF):
            edges = []
            for s in inputs[n.name]:
                hop = pos[n.name] - pos[s.source]
                if hop - 1 > DELAY_MAX:
                    diags.append(diag("SNC605", n, f"the synapse from %{s.source} needs a delay of {hop - 1} "
                                      f"steps, Loihi allows at most {DELAY_MAX}",
                                      "shorten the skip connection or the depth it spans"))
                edges.append(ir.Edge(s.edge.src, hop))
            return ScheduledLIF(n.name, tuple(edges), n.origin, decay=n.decay, threshold=n.threshold,
                                comparison=n.comparison, reset=n.reset, gain=n.gain, period=period,
                                phase=pos[n.name], syn_decay=getattr(n, "syn_decay", None))
        if isinstance(n, ir.Readout):
            edges = []
            for e in n.inputs:
                src = host_source(graph, e)
                if src is None:
                    diags.append(diag("SNC606", n, f"readout input %{e.src} is not a chain of flatten/pool/dense "
                                      "ops over one population", "the host-side readout reads spike counts"))
                    src = e.src
                edges.append(ir.Edge(e.src, latency - pos.get(src, latency)))
            return WindowReadout(n.name, tuple(edges), n.origin, weight=n.weight, bias=n.bias, start=latency,
                                 length=steps)
        return n
