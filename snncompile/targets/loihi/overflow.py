"""Overflow analysis of a fixed-point graph: bounds on |A|, the 24-bit current wrap and voltage saturation.

Per population, with W_int its integer synapses and x_max the largest payload of each source (1 for
spikes, the encoding's `high` for graded input):
    |A| ≤ A_max = max_n Σ_j Σ_i |W_int[n, i]| · x_max          (conv: per channel, an upper bound)
    u wraps when |64·A| > 2^23 (memoryless current: u = 64·A), i.e. A_max > 2^17 − 1; a decaying current
    gathers up to A_max · 4096 / iDecay (the geometric sum), which replaces A_max below
    v ≤ r·64·vth + 64·(A⁺ + |b|) (a spike resets it),  −v ≤ 64·(A⁻ + |b|) / (1 − r),  r = (4096 − vDecay)/4096
    with A⁺ / A⁻ the sums of positive / negative weights × x_max; v saturates at ±(2^23 − 1)
Calibration data gives measured drives next to these worst cases.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from snncompile import ir, progress
from snncompile.errors import Diagnostic
from snncompile.targets.loihi.caps import A_NO_WRAP, A_PORT, DECAY_UNITY, SHIFT, STATE_LIMIT
from snncompile.targets.loihi.ops import Encode, LoihiLIF, ScheduledLIF, WindowReadout
from snncompile.targets.loihi.structure import diag


def unpipelined(graph: ir.Graph) -> ir.Graph:
    """The scheduled graph without its pipeline (no hop delays, resets or readout window): within each
    population's valid window it computes the same values, in T instead of T + L steps."""
    nodes: list[ir.Op] = []
    for n in graph.nodes:
        if isinstance(n, ScheduledLIF):
            n = n.replace(inputs=tuple(ir.Edge(e.src) for e in n.inputs), period=0, phase=0)
        elif isinstance(n, WindowReadout):
            n = ir.Readout(n.name, tuple(ir.Edge(e.src) for e in n.inputs), n.origin, weight=n.weight, bias=n.bias)
        nodes.append(n)
    return graph.with_nodes(nodes)


def measured_drives(graph: ir.Graph, calibration: np.ndarray | None, batch: int = 8) -> dict[str, float]:
    """Largest |synaptic drive| / θ per scheduled population on the calibration data (empty without data),
    `batch` samples at a time, recording only the synapses that feed a population."""
    if calibration is None:
        return {}
    from snncompile.sim.interpreter import simulate

    flat = unpipelined(graph)
    synapses = {e.src for pop in flat.of_kind(ir.LIF) for e in pop.inputs}
    drives: dict[str, float] = {}
    for start in progress.track(range(0, calibration.shape[1], batch), "calibration: synaptic drives",
                                unit="batches"):
        result = simulate(flat, calibration[:, start:start + batch], record=synapses)
        for pop in flat.of_kind(ir.LIF):
            total = _current(pop, cast(np.ndarray, sum(_unbiased(flat.node(e.src), result[e.src]) for e in pop.inputs)))
            gain = 1.0 if pop.gain is None else np.abs(pop.gain)
            peak = float(np.max(np.abs(total) * gain / pop.threshold[0]))
            drives[pop.name] = max(drives.get(pop.name, 0.0), peak)
    return drives


def _current(pop: ir.Op, x: np.ndarray) -> np.ndarray:
    """The synaptic current i[t] = syn_decay·i[t−1] + x[t] of a current-based population (else x)."""
    syn = getattr(pop, "syn_decay", None)
    if syn is None:
        return x
    out, i = np.empty_like(x), np.zeros_like(x[0])
    for t in range(x.shape[0]):
        i = syn * i + x[t]
        out[t] = i
    return out


def _unbiased(syn: ir.Op, out: np.ndarray) -> np.ndarray:
    bias = getattr(syn, "bias", None)
    if bias is None:
        return out
    return out - (bias.reshape(-1, 1, 1) if out.ndim == 5 else bias)


def _payload_max(graph: ir.Graph, src: str) -> float:
    node = graph.node(src)
    if isinstance(node, ir.Flatten):
        node = graph.node(node.inputs[0].src)
    return float(node.high) if isinstance(node, Encode) else 1.0


def drive_bounds(graph: ir.Graph, pop: LoihiLIF) -> tuple[float, float]:
    """(largest positive, largest negative) |A| over the population: Σ of positive (negative) weights × x_max."""
    pos: np.ndarray | float = 0.0
    neg: np.ndarray | float = 0.0
    for e in pop.inputs:
        syn = graph.node(e.src)
        w = np.asarray(syn.weight).reshape(syn.weight.shape[0], -1)  # type: ignore[attr-defined]
        x = _payload_max(graph, syn.inputs[0].src)
        pos = pos + np.clip(w, 0, None).sum(1) * x
        neg = neg + np.clip(-w, 0, None).sum(1) * x
    return float(np.max(pos)), float(np.max(neg))


def worst_a(graph: ir.Graph, pop: LoihiLIF) -> float:
    """A_max of the module docstring."""
    return max(drive_bounds(graph, pop))


def overflow_report(graph: ir.Graph, measured: dict[str, float],
                    ledger: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """Per-population numbers (for the manifest) and warnings for every wrap or saturation risk."""
    table, risks = [], []
    for pop in graph.of_kind(LoihiLIF):
        gather = DECAY_UNITY / pop.i_decay if pop.i_decay else float("inf")
        a_step = max(drive_bounds(graph, pop))
        a_pos, a_neg = (a * gather for a in drive_bounds(graph, pop))
        a_max = max(a_pos, a_neg)
        bias = 0.0 if pop.bias is None else float(np.abs(pop.bias).max())
        keep = (DECAY_UNITY - pop.v_decay) / DECAY_UNITY
        cap = STATE_LIMIT / 2**SHIFT
        v_high = keep * 2**SHIFT * pop.threshold + 2**SHIFT * (min(a_pos, cap) + bias)
        v_low = 2**SHIFT * (min(a_neg, cap) + bias) / (1 - keep) if keep < 1 else float("inf")
        v_bound = max(v_high, v_low)
        a_meas = measured[pop.name] * ledger[pop.name]["vth"] if pop.name in measured else None
        row = {"node": pop.name, "a_max": a_max, "a_measured": a_meas, "u_wrap_possible": a_max > A_NO_WRAP,
               "port_16bit_exceeded": a_step >= A_PORT, "v_bound": v_bound,
               "v_saturation_possible": v_bound >= STATE_LIMIT - 1}
        table.append(row)
        measured_text = "" if a_meas is None else f"; measured on calibration data: {a_meas:.0f}"
        if row["u_wrap_possible"]:
            risks.append(diag("SNC622", pop, f"current may wrap: |A| can reach {a_max:.0f}, 64·|A| = "
                              f"{64 * a_max:.0f} > 2^23 = {STATE_LIMIT}{measured_text}",
                              "use overflow='avoid' or calibrate; the simulator models the wrap exactly",
                              severity="warning"))
        if row["v_saturation_possible"]:
            risks.append(diag("SNC623", pop, f"voltage may saturate: |v| bound {v_bound:.0f} ≥ 2^23 − 1 "
                              f"(|A| ≤ {a_max:.0f}, |bias| ≤ {bias:.0f}, vDecay {pop.v_decay})"
                              + measured_text, "the simulator models saturation exactly", severity="warning"))
    return table, risks
