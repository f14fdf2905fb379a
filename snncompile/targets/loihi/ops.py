"""Ops of pipelined and fixed-point (Loihi 2) graphs: scheduled LIF, integer LIF, input encoding, host readout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snncompile.ir.base import Op, Shape, ShapeError, expect_one_shape, param_fits
from snncompile.ir.ops_neuron import LIF, Readout, fan_in_shape
from snncompile.ir.traits import FixedPoint, Neuron


def resets_at(step: int, period: int, phase: int) -> bool:
    """True when a population with this reset schedule zeroes its state before the update at 0-based `step`."""
    return period > 0 and step % period == phase % period


@dataclass(frozen=True, eq=False)
class ScheduledLIF(LIF):
    """ir.LIF on a pipelined schedule (float): exactly ir.LIF, except that before the update at every step
    t with t ≡ phase (mod period) the state is zeroed, v_k[t−1] := 0 (period 0: never).

    With phase = the population's pipeline depth p and period = T, the state left by bias integration
    during warm-up (t < p) or by the previous sample is cleared when the sample's first input arrives.

    With `syn_decay` (a current-based neuron, from ir.LIFExt with immediate reset) the drive is a
    synaptic current that the reset steps also clear (binary, K = 1):
        i[t] = syn_decay · i[t−1] + Σ inputs[t];  h = decay · v + gain · i[t];  i is not reset by a spike.
    """

    period: int = 0
    phase: int = 0
    syn_decay: np.ndarray | None = None
    kind: ClassVar[str] = "scheduled_lif"
    granular: ClassVar[dict[str, int]] = {**LIF.granular, "syn_decay": 0}

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = super().infer_shape(in_shapes)
        if self.syn_decay is not None and not param_fits(self.syn_decay.shape, shape):
            raise ShapeError(f"syn_decay has shape {list(self.syn_decay.shape)}, expected {list(shape)}")
        return shape

    def check(self, in_shapes: list[Shape]) -> list[str]:
        problems = super().check(in_shapes)
        if self.syn_decay is not None and self.levels != 1:
            problems.append("a synaptic current (syn_decay) needs a binary population (one level)")
        return problems


@dataclass(frozen=True, eq=False)
class LoihiLIF(Op, Neuron, FixedPoint):
    """Loihi 2 CUBA LIF population in integers (Lava PyLifModelBitAcc / PyLifResetModelBitAcc, fixed_pt).

    A[t] = Σ inputs (synaptic sums, each already delayed by its edge); at every step t:
        if t ≡ phase (mod period):  u := v := 0                                    (LIFReset)
        dec(x, D)  = sgn(x·(4096 − D)) · ⌊|x·(4096 − D)| / 2^12⌋
        u1 = dec(u, i_decay) + A·2^6
        u  = u1 − 2^24 if u1 > 2^23;  u1 + 2^24 if u1 ≤ −2^23;  u1 otherwise     (one conditional wrap)
        v  = clamp(dec(v, v_decay) + u + b16·2^6, −(2^23 − 1), 2^23 − 1)          (saturation)
        s  = [v > threshold·2^6];  v := 0 where s                                  (u is not reset)
    b16 = ((bias + 2^15) mod 2^16) − 2^15 is the bias as Lava stores it (int16).
    `scale` (per neuron) is the real value of one integer step of A, bias and threshold (the scale ledger);
    the voltage's integer step is scale / 64.
    """

    threshold: int = 0
    i_decay: int = 4096
    v_decay: int = 0
    bias: np.ndarray | None = None
    scale: np.ndarray = None  # type: ignore[assignment]
    period: int = 0
    phase: int = 0
    kind: ClassVar[str] = "loihi_lif"
    arity: ClassVar[int | None] = None

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        shape = fan_in_shape(self, in_shapes)
        for name in ("bias", "scale"):
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ShapeError(f"{name} has shape {list(value.shape)}, expected {list(shape)}")
        return shape

    def check(self, in_shapes: list[Shape]) -> list[str]:
        problems = super().check(in_shapes)
        if self.bias is not None and np.any(self.bias != np.round(self.bias)):
            problems.append("bias must hold integers")
        if self.scale is None or np.any(self.scale <= 0):
            problems.append("scale (the real value of one integer step) must be positive")
        return problems


@dataclass(frozen=True, eq=False)
class Encode(Op, FixedPoint):
    """Input encoding to integer payloads: y[t] = clamp(⌊x[t]·scale + 1/2⌋, low, high).
    Binary spike input is scale 1, low 0, high 1."""

    scale: float = 1.0
    low: int = 0
    high: int = 1
    kind: ClassVar[str] = "encode"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        return expect_one_shape(self, in_shapes)


@dataclass(frozen=True, eq=False)
class SkipDense(Op, FixedPoint):
    """A dense synapse between populations of any rank: y[t] = reshape(W · flatten(x[t]), shape),
    flatten and reshape in C-major (C, H, W) order; W is [prod(shape), prod(input shape)]."""

    weight: np.ndarray = None  # type: ignore[assignment]
    shape: Shape = ()
    kind: ClassVar[str] = "skip_dense"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        if self.weight.ndim != 2 or self.weight.shape != (int(np.prod(self.shape)), int(np.prod(shape))):
            raise ShapeError(f"weight {list(self.weight.shape)} does not map {list(shape)} to {list(self.shape)}")
        return tuple(self.shape)


@dataclass(frozen=True, eq=False)
class WindowReadout(Readout, FixedPoint):
    """Readout over a window of the pipelined run:
    y = (1/length) Σ_{t=start}^{start+length−1} (W x[t] + b)."""

    start: int = 0
    length: int = 1
    kind: ClassVar[str] = "window_readout"
