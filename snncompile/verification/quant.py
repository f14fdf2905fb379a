"""Static quantization error per layer: integer weights and biases against the float ones, via the scale ledger."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile import ir
from snncompile.targets.loihi.ops import Encode, LoihiLIF
from snncompile.verification.stages import Layer, graph_members


def _source_scale(graph: ir.Graph, syn: ir.Op) -> float:
    """Integer steps per real unit of what the integer synapse reads (the input encoding, else spikes: 1)."""
    node = graph.node(syn.inputs[0].src)
    if isinstance(node, ir.Flatten):
        node = graph.node(node.inputs[0].src)
    return float(node.scale) if isinstance(node, Encode) else 1.0


def _member_terms(sched: ir.Graph, fixed: ir.Graph, name: str, vth: int) -> tuple[list[np.ndarray], ...]:
    """Per synapse of one population: (normalized float weights, integer weights / vth); and its bias pair."""
    from snncompile.targets.loihi.layer_quant import row_factor, synapse_weight

    pop, q_pop = sched.node(name), fixed.node(name)
    shape = sched.shapes[name]
    gain = np.ones(shape) if pop.gain is None else pop.gain  # type: ignore[attr-defined]
    rho = gain / pop.threshold[0]  # type: ignore[attr-defined]
    want, got, bias_want, bias_got = [], [], [], []
    bias = np.zeros(shape)
    for e_float, e_int in zip(pop.inputs, q_pop.inputs, strict=True):
        syn, syn_int = sched.node(e_float.src), fixed.node(e_int.src)
        w = synapse_weight(syn, shape[0])
        want.append(w * row_factor(w, rho) / _source_scale(fixed, syn_int))
        got.append(np.asarray(syn_int.weight, np.float64) / vth)  # type: ignore[attr-defined]
        b = getattr(syn, "bias", None)
        if b is not None:
            bias = bias + (b.reshape(-1, *([1] * (len(shape) - 1))) if len(shape) == 3 else b)
    b_int = q_pop.bias  # type: ignore[attr-defined]
    if b_int is not None or np.any(bias):
        bias_want.append(bias * rho)
        bias_got.append(np.zeros(shape) if b_int is None else b_int / vth)
    return want, got, bias_want, bias_got


def _relative(want: list[np.ndarray], got: list[np.ndarray]) -> tuple[float | None, float | None]:
    """(‖got − want‖ / ‖want‖, max |got − want|) over all arrays, in threshold units."""
    if not want:
        return None, None
    diff = np.concatenate([(g - w).ravel() for w, g in zip(want, got, strict=True)])
    norm = float(np.sqrt(sum(float(np.sum(w**2)) for w in want)))
    rel = float(np.linalg.norm(diff) / norm) if norm > 0 else None
    return rel, float(np.abs(diff).max())


def quantization_errors(sched: ir.Graph, fixed: ir.Graph, layers: list[Layer]) -> dict[str, dict[str, Any]]:
    """Per layer: relative and max weight and bias errors in units of the threshold (what shifts a spike
    decision), the integer threshold vth and the voltage step of the scale ledger."""
    ledger = fixed.metadata["loihi"]["ledger"]
    members = graph_members(fixed, layers)
    out: dict[str, dict[str, Any]] = {}
    for layer, names in members.items():
        want, got, bw, bg = [], [], [], []
        for name in names:
            if not isinstance(fixed.node(name), LoihiLIF) or name not in sched:
                continue
            terms = _member_terms(sched, fixed, name, int(ledger[name]["vth"]))
            want += terms[0]
            got += terms[1]
            bw += terms[2]
            bg += terms[3]
        w_rel, w_max = _relative(want, got)
        b_rel, b_max = _relative(bw, bg)
        entry = ledger[names[0]]
        out[layer] = {"weight_rel_error": w_rel, "weight_max_error": w_max, "bias_rel_error": b_rel,
                      "bias_max_error": b_max, "vth": entry["vth"], "voltage_step": entry["voltage_step"]}
    return out
