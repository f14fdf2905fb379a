"""MPBN (official form) folded into plain LIF neurons with per-neuron thresholds, sign-aware."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncompile import ir
from snncompile.passes.fold_affine import NOT_FINITE, SOFT_RESET, Affine, NotFoldable, full
from snncompile.passes.fold_backward import Absorber
from snncompile.passes.fold_plan import Plan

ON_DRIVE, ON_THRESHOLD, OFF_THRESHOLD, PINNED_ON_THRESHOLD = 1.0, 0.5, 1.0, -1.0
"""Constant neurons: always-on ones get drive 1 > 0.5 from a bias row, never-on ones threshold 1 with
no drive; without a row to hold the drive, always-on needs threshold −1 (0 > −1, warned as SNC504)."""


@dataclass(frozen=True)
class MPBNDecision:
    """Per neuron (full shape): sign of γ (−1, 0, 1), pinned-on constants, and the LIF threshold s·θ'."""

    sign: np.ndarray
    always_on: np.ndarray
    threshold: np.ndarray

    @property
    def constant(self) -> np.ndarray:
        return self.sign == 0


def decide(node: ir.MPBNLIF, shape: ir.Shape) -> MPBNDecision:
    """θ_n = fire_level·v_th. Spike iff γ(h − μ)/D + β > θ_n with D = √(σ² + ε), so
    γ > 0: h > θ',  γ < 0: −h > −θ',  θ' = μ + (θ_n − β)·D/γ;  γ = 0: constant [β/v_th > fire_level]."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        denom = full(np.sqrt(node.var + node.eps), shape)
        gamma, sign = full(node.weight, shape), np.sign(full(node.weight, shape))
        raw = full(node.mean, shape) + (node.fire_level * node.v_th - full(node.bias, shape)) * denom / gamma
        theta = np.where(sign != 0, sign * raw, 0.0)
    bad = ((sign != 0) & ~np.isfinite(theta)) | ~np.isfinite(denom) | (denom <= 0)
    if np.any(bad):
        i = np.unravel_index(int(np.argmax(bad)), shape)
        raise NotFoldable(f"{int(bad.sum())} neuron(s) get no finite threshold, e.g. neuron {tuple(map(int, i))}"
                          f": γ = {gamma[i]:.6g}, D = {denom[i]:.6g}, θ' = {raw[i]:.6g}", NOT_FINITE)
    always_on = (sign == 0) & (full(node.bias, shape) / node.v_th > node.fire_level)
    return MPBNDecision(sign, always_on, theta)


def check_reset(node: ir.MPBNLIF, decision: MPBNDecision) -> None:
    """Soft reset subtracts one raw unit: a subtract-reset LIF on state s·h matches only if s·θ' = s."""
    moving = ~decision.constant
    wrong = moving & (decision.threshold != decision.sign)
    if node.reset == "subtract" and np.any(wrong):
        raw = decision.threshold[wrong] * decision.sign[wrong]
        raise NotFoldable(f"reset 'subtract' removes 1 raw unit per spike, but {int(wrong.sum())} of "
                          f"{int(moving.sum())} folded thresholds θ' differ from 1 (range "
                          f"{raw.min():.6g}..{raw.max():.6g})", SOFT_RESET)


def channel_vector(values: np.ndarray) -> np.ndarray | None:
    flat = values.reshape(values.shape[0], -1)
    return flat[:, 0].copy() if np.all(flat == flat[:, :1]) else None


def fold_mpbn(plan: Plan, node: ir.MPBNLIF) -> MPBNDecision:
    """Replace the MPBNLIF by a LIF of the same name (rules F7–F10 of fold-norm)."""
    shape = plan.graph.shapes[node.name]
    decision = decide(node, shape)
    check_reset(node, decision)
    inputs, gain = _negate_rows(plan, node, decision), None
    threshold = decision.threshold.copy()
    if inputs is None:
        inputs = node.inputs
        gain = None if np.all(decision.sign == 1) else decision.sign
        threshold[decision.always_on] = PINNED_ON_THRESHOLD
    else:
        threshold[decision.always_on] = ON_THRESHOLD
    threshold[decision.constant & ~decision.always_on] = OFF_THRESHOLD
    decay = np.where(decision.constant, 0.0, node.decay)
    lif = ir.LIF(name=node.name, inputs=inputs, origin=node.origin, decay=decay, threshold=threshold[None],
                 comparison=">", reset=node.reset, gain=gain)
    plan.put(node, lif)
    _report(plan, node, decision, rows=gain is None)
    return decision


def _report(plan: Plan, node: ir.MPBNLIF, decision: MPBNDecision, rows: bool) -> None:
    moving, negative = int(np.sum(~decision.constant)), int(np.sum(decision.sign < 0))
    form = "element-wise" if node.elementwise else "channel-wise"
    plan.notes.append(f"F7 {form} mpbn_lif %{node.name} -> lif with per-neuron thresholds "
                      f"θ' = μ + (θ_n − β)·D/γ ({moving} neuron(s))")
    if negative and rows:
        channels = int(np.sum(channel_vector(decision.sign) < 0))  # type: ignore[operator]
        plan.notes.append(f"F8 negated the input rows of {channels} channel(s) with γ < 0 (threshold −θ')")
        plan.count("negated_channels", channels)
    elif negative:
        plan.notes.append(f"F9 gain −1 on {negative} neuron(s) with γ < 0 (threshold −θ')")
        plan.count("gain_neurons", negative)
    constant = int(np.sum(decision.constant))
    if constant:
        on = int(np.sum(decision.always_on))
        how = "bias row drive 1 > 0.5" if rows else "gain 0, threshold −1"
        plan.notes.append(f"F10 pinned {constant} neuron(s) with γ = 0: {on} always on ({how}), "
                          f"{constant - on} never (no drive, threshold 1); decay 0")
        plan.count("constant_neurons", constant)


def _negate_rows(plan: Plan, node: ir.MPBNLIF, decision: MPBNDecision) -> tuple[ir.Edge, ...] | None:
    """Inputs with rows scaled by s_c (and bias ON_DRIVE for always-on channels), or None when the signs
    vary inside a channel or some input is no synapse (then the LIF's per-neuron gain does it)."""
    signs, on = channel_vector(decision.sign), channel_vector(decision.always_on.astype(np.float64))
    if signs is None or on is None:
        return None
    if np.all(signs == 1):
        return node.inputs
    aff = Affine(signs, np.zeros_like(signs), on * ON_DRIVE)
    trial = plan.fork()
    try:
        inputs = Absorber(trial).fan_in(node.inputs, aff, exclusive=True)
    except NotFoldable as exc:
        plan.notes.append(f"F9 %{node.name}: input rows cannot be rewritten ({exc.reason}); using the gain")
        return None
    plan.adopt(trial)
    return inputs
