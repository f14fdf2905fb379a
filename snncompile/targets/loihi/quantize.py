"""loihi-quantize: the scheduled float graph in Lava's integer formats, with the scale ledger (layer_quant.py).

Rewrite rules:
  Q1  %input                      -> %input, %input.encode = encode(%input) {scale, low, high}; synapses
                                     reading the input read the encoded payloads
  Q2  %p = scheduled_lif(syn_j@d_j) -> %p = loihi_lif(syn'_j@d_j) {vThMant, decays, bias, scale, resets}
      each syn'_j an integer-weight, bias-free copy of syn_j for %p alone (pool2d: depthwise conv2d)
  Q3  host-side ops (readout, its pooling and flattening) are kept in float
Every problem found (unrepresentable thresholds, weights that all round to zero, unsupported neuron
options) is collected and raised together; overflow risks become warnings (overflow.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic, error
from snncompile.passes.base import Pass, PassContext
from snncompile.targets.loihi.caps import LOIHI_APPROXIMATIONS, LoihiOptions
from snncompile.targets.loihi.encoding import InputEncoding, balance_scale, choose_encoding
from snncompile.targets.loihi.layer_quant import (
    MIN_VTH,
    MemberPlan,
    decay_to_idecay,
    decay_to_vdecay,
    even_round,
    plan_member,
    threshold_bounds,
)
from snncompile.targets.loihi.ops import Encode, LoihiLIF, ScheduledLIF
from snncompile.targets.loihi.overflow import measured_drives, overflow_report
from snncompile.targets.loihi.structure import diag, synaptic_inputs


def input_weights(plans: list[MemberPlan], inp: str) -> tuple[float, float]:
    """Largest and rms |weight| (threshold units) of the synapses reading the input."""
    ws = [np.abs(w[w != 0]) for p in plans for s, w in zip(p.inputs, p.weights, strict=True) if s.source == inp]
    flat = np.concatenate(ws) if ws else np.zeros(0)
    return (float(flat.max()), float(np.sqrt(np.mean(flat**2)))) if flat.size else (0.0, 0.0)


def on_voltage_grid(pop: ScheduledLIF) -> bool:
    """True when v stays a multiple of 64 (so v ≥ 64·vth ⟺ v > 64·(vth − 1), the ≥ encoding): the membrane
    is memoryless (decay 0) or integrates without leak (decay 1, an IF neuron: vDecay 0 truncates nothing),
    and the current does not decay (u = 64·A). Saturation, which is reported, would leave the grid."""
    membrane = bool(np.all(pop.decay == 0) or np.all(pop.decay == 1))
    return membrane and (pop.syn_decay is None or not np.any(pop.syn_decay))


def neuron_problems(pop: ScheduledLIF, allow: frozenset[str] = frozenset()) -> list[Diagnostic]:
    """Neuron options Loihi's LIF cannot express (errors), and accepted approximations (warnings)."""
    found = []
    decay0 = bool(np.all(pop.decay == 0))
    if pop.levels != 1:
        found.append(diag("SNC610", pop, f"population has {pop.levels} firing levels", "run lower-mlf first"))
    if pop.reset == "subtract":
        found.append(diag("SNC610", pop, "reset by subtraction; Loihi resets v to 0",
                          "train with reset='zero' or keep this layer off-chip"))
    if pop.reset == "none" and not decay0:
        found.append(diag("SNC610", pop, "reset 'none' with a leaky membrane; Loihi always resets v to 0 on a spike"))
    if pop.comparison == ">=" and not on_voltage_grid(pop):
        if "non-strict" in allow:
            found.append(diag("SNC611", pop, "non-strict threshold (≥) on a leaky membrane compiled as > "
                              "(allowed): spikes differ where the integer membrane equals 64·vThMant exactly",
                              "measure the effect with snncompile verify", severity="warning"))
        else:
            found.append(diag("SNC611", pop, "non-strict threshold (≥) on a leaky membrane has no exact integer "
                              "encoding (Loihi fires on v > 64·vThMant)", "use comparison '>' for leaky neurons, "
                              "or accept > with allow={'non-strict'} (--loihi-allow non-strict)"))
    theta = pop.threshold
    if np.any(~np.isfinite(theta)) or np.any(theta <= 0):
        wrong = ~np.isfinite(theta) | (theta <= 0)
        bad = np.any(wrong, axis=0) if wrong.ndim > 1 else wrong
        found.append(diag("SNC613", pop, f"threshold must be positive and finite: {int(np.sum(bad))} of {bad.size} "
                          f"neurons fold to a threshold <= 0 (min {np.min(theta):.6g}), i.e. fire on zero input; "
                          "Loihi's vThMant is unsigned and the reset value is fixed at 0",
                          "no --loihi-allow option accepts this (the spikes would change): fine-tune with "
                          "snncompile.nn.deployability_penalty added to the loss (docs/PAPERS.md, 'Fine-tuning "
                          "for Loihi'); see FOLDING.md §6.3"))
    return found


def with_calibration_data(options: LoihiOptions, graph: ir.Graph) -> LoihiOptions:
    """The options with a calibration data spec (`digits`, `random` or FILE.npz) loaded as frames
    [T, N, ...] for the graph's input shape and timesteps."""
    if options.calibration is not None and not isinstance(options.calibration, str):
        from snncompile.validate import numeric_array

        numeric_array(np.asarray(options.calibration), "calibration", "SNC902")
    if not isinstance(options.calibration, str):
        return options
    from snncompile.verification.data import load_data

    (inp,) = graph.of_kind(ir.Input)
    if graph.timesteps is None:
        raise error("SNC902", "calibration data needs the number of timesteps", hint="pass --timesteps")
    spec = options.calibration  # a FILE.npz spec is calibration data itself (its `calibration` array, else `x`)
    data = load_data(spec, tuple(inp.shape), graph.timesteps, calibrate_on_scored=spec not in ("random", "digits"))
    return dataclasses.replace(options, calibration=data.calibration)


@dataclass(frozen=True)
class LoihiQuantize(Pass):
    name = "loihi-quantize"
    summary = "Q1-Q3: integer weights, thresholds, decays and biases per netx layer; the scale ledger"
    options: LoihiOptions = field(default_factory=LoihiOptions)

    @property
    def spec(self) -> str:
        allow = f", allow={','.join(sorted(self.options.allow))}" if self.options.allow else ""
        return f"{self.name}{{overflow={self.options.overflow}{allow}}}"

    def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
        errors: list[Diagnostic] = []
        warnings: list[Diagnostic] = []
        approximations: list[Diagnostic] = []
        options = with_calibration_data(self.options, graph)
        if unknown := set(options.allow) - set(LOIHI_APPROXIMATIONS):
            errors.append(Diagnostic("SNC619", f"unknown Loihi approximation(s) {sorted(unknown)}",
                                     hint=f"known: {', '.join(LOIHI_APPROXIMATIONS)}"))
        enc = choose_encoding(options)
        (inp,) = graph.of_kind(ir.Input)
        measured = measured_drives(graph, cast("np.ndarray | None", options.calibration))  # loaded: not a spec
        meta = dict(graph.metadata["loihi"])
        built: dict[str, list[ir.Op]] = {}
        ledger: dict[str, dict[str, object]] = {}
        if enc.free:
            unit = dataclasses.replace(enc, scale=1.0).clamped()
            first = self._plans(graph, meta["layers"][0], inp.name, unit, [])
            cap = self._threshold(first, measured, [], weights=False)
            enc = balance_scale(enc, cap, *input_weights(first, inp.name))
        for layer in meta["layers"]:
            for d in (d for n in layer for d in neuron_problems(graph.node(n), options.allow)):  # type: ignore[arg-type]
                (errors if d.severity == "error" else approximations).append(d)
            plans = self._plans(graph, layer, inp.name, enc, errors)
            vth = self._threshold(plans, measured, errors)
            for plan in plans:
                built[plan.pop.name] = self._member(graph, plan, vth, meta["period"], enc, errors, warnings)
                ledger[plan.pop.name] = _ledger_entry(plan, vth)
        if errors:
            raise CompileError(errors)
        nodes = self._assemble(graph, inp, enc, built)
        result = graph.with_nodes(nodes)
        table, risks = overflow_report(result, measured, ledger)
        for d in approximations + warnings + risks:
            ctx.warn(d)
        meta.update(input=enc.to_json(), ledger=ledger, overflow=table,
                    approximations=[{"node": d.node, "kind": "non-strict", "message": d.message}
                                    for d in approximations])
        ctx.note(f"Q2 quantized {len(ledger)} populations; input {enc.kind} (scale {enc.scale:g})")
        return result.with_nodes(result.nodes, loihi=meta)

    @staticmethod
    def _plans(graph: ir.Graph, layer: list[str], inp: str, enc: InputEncoding,
               errors: list[Diagnostic]) -> list[MemberPlan]:
        pops = [graph.node(n) for n in layer]
        return [plan_member(p, synaptic_inputs(graph, p, errors), graph.shapes[p.name],  # type: ignore[arg-type]
                            {inp: enc.scale}, {inp: enc.payload_max}, errors) for p in pops]

    def _threshold(self, plans: list[MemberPlan], measured: dict[str, float], errors: list[Diagnostic],
                   weights: bool = True) -> int:
        peak = max((measured[p.pop.name] for p in plans if p.pop.name in measured), default=None)
        bounds, no_wrap = threshold_bounds(plans, peak)
        if not weights:
            bounds.pop("weights within ±254", None)
        limit, reason = min((v, k) for k, v in bounds.items())
        if self.options.overflow == "avoid" and no_wrap < limit and no_wrap >= MIN_VTH:
            limit, reason = no_wrap, "no current wrap (|A| < 2^17)"
        vth = int(np.floor(limit))
        if vth < 1:
            errors.append(diag("SNC613", plans[0].pop, f"no integer threshold fits: {reason} allows at most "
                               f"vth = {limit:.3g} (needs ≥ 1); bounds: " +
                               ", ".join(f"{k} ≤ {v:.4g}" for k, v in bounds.items()),
                               "the weights or biases are too large relative to the threshold; rescale the layer"))
            return 1
        return vth

    def _member(self, graph: ir.Graph, plan: MemberPlan, vth: int, period: int, enc: InputEncoding,
                errors: list[Diagnostic], warnings: list[Diagnostic]) -> list[ir.Op]:
        pop, nodes, edges = plan.pop, [], []
        for s, w in zip(plan.inputs, plan.weights, strict=True):
            w_int = even_round(vth * w)
            if not np.any(w_int):
                errors.append(diag("SNC614", s.synapse, f"all weights into %{pop.name} round to zero: max |w| "
                                   f"{np.abs(w).max() * np.abs(pop.threshold).max():.3g} vs one integer step "
                                   f"{np.abs(pop.threshold).max() / vth:.3g} at vThMant {vth}",
                                   "this synapse is negligible next to the layer's other inputs; drop or rescale it"))
            name = s.synapse.name if len(graph.consumers(s.synapse.name)) == 1 else f"{s.synapse.name}@{pop.name}"
            nodes.append(_integer_synapse(s.synapse, name, w_int))
            edges.append(ir.Edge(name, s.edge.delay))
        bias = None if plan.bias is None else np.round(vth * plan.bias)
        shape = graph.shapes[pop.name]
        scale = np.broadcast_to(pop.threshold[0] / vth, shape)
        v_decay = decay_to_vdecay(pop, period, errors, warnings)
        i_decay = decay_to_idecay(pop, errors, warnings)
        if bias is not None and i_decay != 4096:
            errors.append(diag("SNC610", pop, "synapse bias into a decaying synaptic current: the current "
                               "integrates it (b·(1 − syn_decay^(t+1)) / (1 − syn_decay)) but Loihi adds biases "
                               "to the voltage", "train the synapses feeding this neuron with bias=False"))
        # ≥ on the 64-grid is exactly > 64·(vth − 1); an allowed off-grid ≥ becomes > 64·vth (differs on ties)
        threshold = vth - 1 if pop.comparison == ">=" and on_voltage_grid(pop) else vth
        nodes.append(LoihiLIF(pop.name, tuple(edges), pop.origin, threshold=threshold, i_decay=i_decay,
                              v_decay=v_decay, bias=bias, scale=scale, period=pop.period, phase=pop.phase))
        return nodes

    @staticmethod
    def _assemble(graph: ir.Graph, inp: ir.Input, enc: InputEncoding, built: dict[str, list[ir.Op]]) -> list[ir.Op]:
        encode = Encode(f"{inp.name}.encode", (ir.Edge(inp.name),), inp.origin, scale=enc.scale, low=enc.low,
                        high=enc.high)
        synapse_users = {e.src for ops in built.values() for op in ops if not isinstance(op, LoihiLIF)
                         for e in op.inputs}
        nodes: list[ir.Op] = [inp, encode]
        for n in graph.nodes:
            if n.name in built:
                nodes += [_read_encoded(op, inp.name, encode.name) for op in built[n.name]]
            elif isinstance(n, ir.Flatten) and n.inputs[0].src == inp.name and n.name in synapse_users:
                nodes.append(_read_encoded(n, inp.name, encode.name))
            elif not isinstance(n, (ir.Input, ir.Dense, ir.Conv2d, ir.Pool2d)) or _host_side(graph, n, built):
                nodes.append(n)
        return nodes


def _host_side(graph: ir.Graph, n: ir.Op, built: dict[str, list[ir.Op]]) -> bool:
    """True for a synapse-like op that feeds no population (part of the host readout)."""
    return not isinstance(n, ir.Input) and not any(c.name in built for c in graph.consumers(n.name))


def _read_encoded(op: ir.Op, inp: str, encode: str) -> ir.Op:
    if not any(e.src == inp for e in op.inputs):
        return op
    return op.replace(inputs=tuple(ir.Edge(encode, e.delay) if e.src == inp else e for e in op.inputs))


def _integer_synapse(syn: ir.Op, name: str, w_int: np.ndarray) -> ir.Op:
    if isinstance(syn, ir.Dense):
        return ir.Dense(name, syn.inputs, syn.origin, weight=w_int)
    if isinstance(syn, ir.Conv2d):
        return ir.Conv2d(name, syn.inputs, syn.origin, weight=w_int, stride=syn.stride, padding=syn.padding,
                         dilation=syn.dilation, groups=syn.groups)
    return ir.Conv2d(name, syn.inputs, syn.origin, weight=w_int, stride=syn.stride,  # type: ignore[attr-defined]
                     padding=syn.padding, groups=w_int.shape[0])  # type: ignore[attr-defined]


def _ledger_entry(plan: MemberPlan, vth: int) -> dict[str, object]:
    step = np.unique(np.round(plan.pop.threshold[0] / vth, 15))
    return {"vth": vth, "step": float(step[0]) if step.size == 1 else [float(step.min()), float(step.max())],
            "voltage_step": float(step.max()) / 64, "threshold": float(plan.pop.threshold.max())}
