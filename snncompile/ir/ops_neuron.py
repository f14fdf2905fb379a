"""Stateful IR ops: spiking neurons with fully explicit discrete-time semantics, and the readout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snncompile.ir.base import Op, Shape, ShapeError, bias_problems, param_fits
from snncompile.ir.traits import Neuron, Normalization, Output


def fan_in_shape(op: Op, in_shapes: list[Shape]) -> Shape:
    """Shape of the summed drive of a fan-in op: every input must have the same shape."""
    if any(s != in_shapes[0] for s in in_shapes):
        raise ShapeError(f"{op.kind} fan-in inputs differ in shape: " + " vs ".join(map(str, in_shapes)))
    return in_shapes[0]

COMPARISONS = (">", ">=")
RESETS = ("zero", "subtract", "none")


@dataclass(frozen=True, eq=False)
class LIF(Op, Neuron):
    """Leaky integrate-and-fire population with K independent levels (K = 1: binary LIF, K > 1: MLF).

    For every neuron n and level k, with v_k[-1] = 0:
        h_k[t] = decay[n] · v_k[t−1] + gain[n] · x[t]     (gain None means 1: h = decay·v + x)
        s_k[t] = [h_k[t] > θ[k, n]]        (comparison ">", or ≥ for ">=")
        v_k[t] = h_k[t] · (1 − s_k[t])     reset "zero"
               = h_k[t] − θ[k, n] · s_k[t]  reset "subtract"
               = h_k[t]                     reset "none"
        out[t] = Σ_k s_k[t]                 (0..K; binary when K = 1)
    An S2NN neuron is decay = 0, comparison ">=", reset "none". With several inputs,
    x[t] is the sum of all inputs in order (synaptic fan-in). decay, gain and θ[k] are stored at their natural
    granularity (ir.base.compact_param): the population's rank with size 1 on constant axes ([C, 1, 1] per channel).
    """

    decay: np.ndarray = None  # type: ignore[assignment]
    threshold: np.ndarray = None  # type: ignore[assignment]
    comparison: str = ">"
    reset: str = "zero"
    gain: np.ndarray | None = None
    kind: ClassVar[str] = "lif"
    arity: ClassVar[int | None] = None
    granular: ClassVar[dict[str, int]] = {"decay": 0, "threshold": 1, "gain": 0}

    @property
    def levels(self) -> int:
        return int(self.threshold.shape[0])

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = fan_in_shape(self, in_shapes)
        if not param_fits(self.decay.shape, shape):
            raise ShapeError(f"decay has shape {list(self.decay.shape)}, "
                             f"expected {list(shape)} (or 1 on constant axes)")
        if self.threshold.ndim != len(shape) + 1 or not param_fits(self.threshold.shape[1:], shape):
            raise ShapeError(f"threshold has shape {list(self.threshold.shape)}, "
                             f"expected [K, {', '.join(map(str, shape))}] (or 1 on constant axes)")
        if self.gain is not None and not param_fits(self.gain.shape, shape):
            raise ShapeError(f"gain has shape {list(self.gain.shape)}, "
                             f"expected {list(shape)} (or 1 on constant axes)")
        return shape

    def check(self, in_shapes: list[Shape]) -> list[str]:
        problems = super().check(in_shapes)
        if self.comparison not in COMPARISONS:
            problems.append(f"comparison must be one of {COMPARISONS}, not {self.comparison!r}")
        if self.reset not in RESETS:
            problems.append(f"reset must be one of {RESETS}, not {self.reset!r}")
        if self.threshold.shape[0] < 1:
            problems.append("a neuron needs at least one level")
        return problems


@dataclass(frozen=True, eq=False)
class MPBNLIF(Op, Neuron, Normalization):
    """LIF whose firing is decided by a BN of its raw membrane (MPBN, official form), v[-1] = 0:
        h[t] = decay[n] · v[t−1] + x[t]
        m̂[t] = ((h[t] − μ) / √(σ² + ε)) · γ + β        (μ, σ², γ, β per channel or per element)
        s[t] = [m̂[t] / v_th > fire_level]               (strict)
        v[t] = h[t] · (1 − s[t])   reset "zero"  (on the raw membrane)
             = h[t] − s[t]         reset "subtract" (one raw unit per spike)
    Norm arrays have shape (C, 1, ..) for channel-wise MPBN or the full sample shape for element-wise.
    With several inputs, x[t] is the sum of all inputs in order (synaptic fan-in).
    """

    decay: np.ndarray = None  # type: ignore[assignment]
    mean: np.ndarray = None  # type: ignore[assignment]
    var: np.ndarray = None  # type: ignore[assignment]
    weight: np.ndarray = None  # type: ignore[assignment]
    bias: np.ndarray = None  # type: ignore[assignment]
    eps: float = 1e-5
    v_th: float = 1.0
    fire_level: float = 0.5
    reset: str = "zero"
    kind: ClassVar[str] = "mpbn_lif"
    arity: ClassVar[int | None] = None
    granular: ClassVar[dict[str, int]] = {"decay": 0}

    @property
    def elementwise(self) -> bool:
        return any(d != 1 for d in self.mean.shape[1:])

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = fan_in_shape(self, in_shapes)
        if not shape:
            raise ShapeError("mpbn_lif needs a channel axis")
        if not param_fits(self.decay.shape, shape):
            raise ShapeError(f"decay has shape {list(self.decay.shape)}, "
                             f"expected {list(shape)} (or 1 on constant axes)")
        channel = (shape[0],) + (1,) * (len(shape) - 1)
        for name in ("mean", "var", "weight", "bias"):
            got = getattr(self, name).shape
            if got not in (channel, shape):
                raise ShapeError(f"`{name}` has shape {list(got)}; expected {list(channel)} "
                                 f"(channel-wise) or {list(shape)} (element-wise)")
        return shape

    def check(self, in_shapes: list[Shape]) -> list[str]:
        problems = super().check(in_shapes)
        if np.any(self.var < 0):
            problems.append("running variance has negative entries")
        if not self.v_th > 0:
            problems.append(f"v_th must be positive, got {self.v_th}")
        if self.reset not in ("zero", "subtract"):
            problems.append(f"reset must be zero or subtract, not {self.reset!r}")
        return problems


@dataclass(frozen=True, eq=False)
class Readout(Op, Output):
    """Non-spiking output layer: y = (1/T) Σ_t (W x[t] + b), W of shape [classes, in]. Must be a graph output.
    With several inputs, x[t] is the sum of all inputs in order."""

    weight: np.ndarray = None  # type: ignore[assignment]
    bias: np.ndarray | None = None
    kind: ClassVar[str] = "readout"
    arity: ClassVar[int | None] = None

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = fan_in_shape(self, in_shapes)
        if len(shape) != 1:
            raise ShapeError(f"readout expects a rank-1 input, got {list(shape)}")
        if self.weight.ndim != 2 or self.weight.shape[1] != shape[0]:
            raise ShapeError(f"weight {list(self.weight.shape)} does not take {shape[0]} inputs")
        return (self.weight.shape[0],)

    def check(self, in_shapes: list[Shape]) -> list[str]:
        return super().check(in_shapes) + bias_problems(self.weight, self.bias, "outputs")
