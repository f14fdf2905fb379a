"""Integer parameters of one netx layer: the shared threshold, per-member weights, biases and decays.

For member population P with thresholds θ_n, gains g_n (1 if absent) and synapses j reading sources of
input scale q_j (1 for spikes, the encoding scale for the graded input), with ρ_n = g_n / θ_n:
    W_int[n, i] = 2·round(vth · ρ_n · W_j[n, i] / (2 q_j))      even integers, |W_int| ≤ 254
    B_n         = round(vth · ρ_n · Σ_j b_j[n])                 13-bit signed
    scale_n     = θ_n / vth                                      real value of one integer step (ledger)
so that v_int / (64 vth) tracks v / θ: the integer neuron crosses vth when the float one crosses θ.
vth is the largest integer meeting every bound of every member (weights, biases, 17 bits, and the
worst-case |A| when overflow="avoid"), shared by the layer: one vThMant per netx layer. The |A| bound
is only applied while it leaves at least MIN_VTH threshold steps: past that the wrap is reported instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from snncompile import ir
from snncompile.errors import Diagnostic
from snncompile.ir.traits import WeightedSynapse
from snncompile.targets.loihi.caps import A_NO_WRAP, BIAS_MAX, DECAY_UNITY, THRESHOLD_MAX, WEIGHT_MAX
from snncompile.targets.loihi.exact import decay_bits
from snncompile.targets.loihi.ops import ScheduledLIF
from snncompile.targets.loihi.structure import SynapticInput, diag

MIN_VTH = 64
"""Fewest threshold steps the overflow cap may leave (a coarser layer would lose more than it saves)."""


@dataclass
class MemberPlan:
    """A population's normalized parameters before the shared threshold is known."""

    pop: ScheduledLIF
    inputs: list[SynapticInput]
    rho: np.ndarray
    weights: list[np.ndarray] = field(default_factory=list)
    bias: np.ndarray | None = None
    xmax: list[float] = field(default_factory=list)


@dataclass
class LayerQuant:
    """A netx layer's integers at threshold scale vth: weights per member and synapse, biases, decay registers."""

    vth: int
    weights: dict[str, list[np.ndarray]]
    biases: dict[str, np.ndarray | None]
    v_decay: int
    i_decay: int

    @staticmethod
    def build(plans: list[MemberPlan], vth: int, period: int, step: int, errors: list[Diagnostic],
              warnings: list[Diagnostic]) -> LayerQuant:
        """W_int = step·round(vth·w/step) clipped to ±top (only a calibrated scale above the weight bound clips),
        B = round(vth·b) and the decay registers (one pair per layer)."""
        top = WEIGHT_MAX + 2 - step
        weights = {p.pop.name: [np.clip(even_round(vth * w, step), -top, top) for w in p.weights] for p in plans}
        biases = {p.pop.name: None if p.bias is None else np.round(vth * p.bias) for p in plans}
        v_decay = i_decay = DECAY_UNITY
        for p in plans:
            v_decay = decay_to_vdecay(p.pop, period, errors, warnings)
            i_decay = decay_to_idecay(p.pop, errors, warnings)
        return LayerQuant(vth, weights, biases, v_decay, i_decay)

    @property
    def decay_bits(self) -> int:
        """Bits a step's decays can drop (the j of exact.py, summed over the current and the voltage)."""
        return decay_bits(self.v_decay) + decay_bits(self.i_decay)


def synapse_weight(syn: ir.Op, channels: int) -> np.ndarray:
    """A synapse's real weight as Dense [out, in] or Conv2d [Co, Ci/g, kh, kw] (Pool2d: depthwise ones)."""
    if isinstance(syn, ir.Pool2d):
        value = 1.0 if syn.mode == "sum" else 1.0 / (syn.kernel[0] * syn.kernel[1])
        return np.full((channels, 1, *syn.kernel), value)
    return np.asarray(cast(WeightedSynapse, syn).weight)  # a synapse of a population: Dense or Conv2d


def row_factor(w: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """ρ broadcast against a weight: per output row (dense) or per output channel (conv)."""
    if w.ndim == 2:
        return rho.reshape(-1, 1)
    return rho.reshape(rho.shape[0], -1)[:, 0].reshape(-1, 1, 1, 1)


def plan_member(pop: ScheduledLIF, inputs: list[SynapticInput], shape: ir.Shape, q: dict[str, float],
                xmax: dict[str, float], errors: list[Diagnostic]) -> MemberPlan:
    """Normalized weights ρ·W/q and bias ρ·b of one population; problems go to `errors`."""
    theta = pop.threshold[0]
    gain = np.ones(shape) if pop.gain is None else pop.gain
    rho = ir.expand_param(gain / np.where(theta > 0, theta, 1.0), shape)  # one value per neuron, as netx stores
    plan = MemberPlan(pop, inputs, rho)
    if len(shape) == 3 and np.any(np.ptp(rho.reshape(shape[0], -1), axis=1) != 0):
        errors.append(diag("SNC612", pop, "threshold or gain varies within a channel of a conv-fed population",
                           "Loihi conv weights are shared across positions; per-channel values are supported"))
    bias = np.zeros(shape)
    for s in inputs:
        w = synapse_weight(s.synapse, shape[0])
        plan.weights.append(w * row_factor(w, rho) / q.get(s.source, 1.0))
        plan.xmax.append(xmax.get(s.source, 1.0))
        b = getattr(s.synapse, "bias", None)
        if b is not None:
            bias = bias + (b.reshape(-1, *([1] * (len(shape) - 1))) if len(shape) == 3 else b)
    if np.any(bias != 0):
        plan.bias = bias * rho
    return plan


def worst_drive(w: np.ndarray, xmax: float) -> np.ndarray:
    """Per output row/channel: Σ |w| · xmax (the largest |A| a synapse can deliver; an upper bound for conv)."""
    return np.abs(w).reshape(w.shape[0], -1).sum(1) * xmax


def _total(terms: Iterable[np.ndarray]) -> np.ndarray:
    """Σ terms as `sum` adds them (0 + t0 + t1 + ...); every caller passes at least one term."""
    return cast(np.ndarray, sum(terms))


def threshold_bounds(plans: list[MemberPlan], measured: float | None, top: int = WEIGHT_MAX, step: int = 2,
                     rounded: bool = True) -> tuple[dict[str, float], float]:
    """Hard upper bounds on the shared integer threshold (by what imposes them), and the bound that keeps
    |A| below 2^17 (measured drive when calibrated, else the worst case). Weights are multiples of `step`
    up to ±`top`; `rounded` leaves room for rounding up by step/2 (not needed by exact weights)."""
    bounds = {"17-bit threshold": float(THRESHOLD_MAX)}
    wmax = max((float(np.abs(w).max()) for p in plans for w in p.weights if w.size), default=0.0)
    if wmax > 0:
        bounds[f"weights within ±{top}"] = (top - (step / 2 if rounded else 0)) / wmax
    bmax = max((float(np.abs(p.bias).max()) for p in plans if p.bias is not None), default=0.0)
    if bmax > 0:
        bounds["13-bit bias"] = (BIAS_MAX - 0.5) / bmax
    drive = measured if measured is not None else max(
        (float(_total(worst_drive(w, x) for w, x in zip(p.weights, p.xmax, strict=True)).max()) * gathered(p.pop)
         for p in plans if p.weights), default=0.0)
    slack = max((float(_total(worst_drive((w != 0).astype(float), x)
                           for w, x in zip(p.weights, p.xmax, strict=True)).max()) for p in plans if p.weights),
                default=0.0) * (step / 2 if rounded else 0)  # a rounded weight may exceed vth·w by step/2
    return bounds, (max(A_NO_WRAP - slack, 1.0) / drive if drive > 0 else float("inf"))


def gathered(pop: ScheduledLIF) -> float:
    """How much a decaying synaptic current can pile up relative to one step's drive: 1 / (1 − syn_decay)."""
    if pop.syn_decay is None:
        return 1.0
    keep = float(np.max(pop.syn_decay))
    return 1.0 / (1.0 - keep) if keep < 1 else float("inf")


def even_round(x: np.ndarray, step: int = 2) -> np.ndarray:
    """Nearest multiple of `step` (2: the nearest even integer; ties after dividing by the step go to the even
    multiple, numpy's half-to-even)."""
    return step * np.round(x / step)


def decay_to_idecay(pop: ScheduledLIF, errors: list[Diagnostic], warnings: list[Diagnostic]) -> int:
    """iDecay = 4096·(1 − syn_decay), one per layer; no synaptic current is 4096 (u = 64·A every step)."""
    if pop.syn_decay is None:
        return 4096
    i_decay = _register(pop, pop.syn_decay, "syn_decay", "iDecay", errors, warnings)
    if i_decay == 0:
        warnings.append(diag("SNC621", pop, "syn_decay 1 (a current that never decays) needs iDecay 0, i.e. "
                             "du = −1, outside the documented 12-bit range (Lava's simulator accepts it)",
                             "hardware may need syn_decay < 1", severity="warning"))
    return i_decay


def _register(pop: ScheduledLIF, decay: np.ndarray, what: str, register: str, errors: list[Diagnostic],
              warnings: list[Diagnostic]) -> int:
    """register = round(4096·(1 − decay)) for a decay shared by the population; inexact values are warned."""
    d = float(decay.reshape(-1)[0])
    if np.ptp(decay) != 0:
        errors.append(diag("SNC615", pop, f"{what} varies across the population ({decay.min():.6g} to "
                           f"{decay.max():.6g}); Loihi has one {register} per layer"))
    if not 0.0 <= d <= 1.0:
        errors.append(diag("SNC615", pop, f"{what} {d:.6g} is outside [0, 1]", f"{register} = 4096·(1 − {what})"))
        return 0
    exact = 4096.0 * (1.0 - d)
    value = round(exact)
    if value != exact:
        warnings.append(diag("SNC620", pop, f"{what} {d:.9g} needs {register} {exact:.4f}; rounded to {value} "
                             f"({what} {1 - value / 4096:.9g})", severity="warning"))
    return value


def decay_to_vdecay(pop: ScheduledLIF, period: int, errors: list[Diagnostic],
                    warnings: list[Diagnostic]) -> int:
    """vDecay = 4096·(1 − decay), one per layer; decay 0 is 4096 (memoryless), or 4095 under per-step resets."""
    if period == 1 and np.ptp(pop.decay) == 0 and round(4096.0 * (1.0 - float(pop.decay.reshape(-1)[0]))) == 4096:
        return 4095
    v_decay = _register(pop, pop.decay, "decay", "vDecay", errors, warnings)
    if v_decay == 4096:
        warnings.append(diag("SNC621", pop, "decay 0 needs vDecay 4096, outside the documented 12-bit range "
                             "(Lava's simulator accepts it)", "hardware may need a per-step reset instead",
                             severity="warning"))
    return v_decay
