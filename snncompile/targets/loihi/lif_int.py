"""LoihiLIF's integer update (Lava fixed_pt) as torch tensor ops: the one implementation of the arithmetic.

The state holds integers in float64 while every value is provably exact there, else in int64 (same code):
    float64: |u|, |v| ≤ 2^23 after wrap/clamp, so u·keep, v·keep < 2^35 and keep/2^12 is a power-of-two fraction:
    dec(x) = trunc(x·keep/2^12) is exact; A·2^6 is exact while |A|·2^6 < 2^53 (FLOAT_EXACT), which run_chunk
    checks on every chunk (Lava's own int32 arithmetic needs |A| < 2^25, SNC625). A chunk past it runs in int64
    (|A|·2^6 < 2^63), where dec() is torch's truncating integer division, Lava's sgn(x)·⌊|x| / 2^12⌋.
Wrap and clamp are skipped when a bound proves them no-ops (then there is nothing to count either).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from snncompile.targets.loihi.caps import DECAY_UNITY, SHIFT, STATE_LIMIT
from snncompile.targets.loihi.ops import LoihiLIF, resets_at

_LIMIT = STATE_LIMIT - 1


FLOAT_EXACT = 2**53


@dataclass
class LifState:
    """u and v of a population between time chunks ([B, *shape]; float64 or int64 integers) and the events
    counted so far."""

    u: torch.Tensor
    v: torch.Tensor
    wraps: int = 0
    saturations: int = 0


@dataclass(frozen=True)
class LifConstants:
    """The op's registers as the update uses them: keep = 4096 − decay, b16·2^6, threshold·2^6."""

    keep_u: int
    keep_v: int
    theta: int
    bias: torch.Tensor | None

    @staticmethod
    def of(op: LoihiLIF, device: torch.device) -> LifConstants:
        bias = None
        if op.bias is not None:
            b = torch.tensor(np.asarray(op.bias), dtype=torch.float64).round().to(torch.int64)
            bias = ((torch.remainder(b + 2**15, 2**16) - 2**15) * 2**SHIFT).to(device)
        return LifConstants(DECAY_UNITY - op.i_decay, DECAY_UNITY - op.v_decay, op.threshold * 2**SHIFT, bias)

    @property
    def bias_peak(self) -> int:
        return 0 if self.bias is None or not self.bias.numel() else int(self.bias.abs().max())


def initial_state(shape: tuple[int, ...], device: torch.device) -> LifState:
    zero = torch.zeros(shape, dtype=torch.float64, device=device)
    return LifState(zero, zero.clone())


def _decay_(x: torch.Tensor, keep: int) -> None:
    """x := dec(x) = sgn(x·keep)·⌊|x·keep| / 2^12⌋ in place (truncation toward zero; exact in both dtypes)."""
    if keep == DECAY_UNITY:
        return
    if keep == 0:
        x.zero_()
    elif x.dtype == torch.int64:
        x.mul_(keep).div_(DECAY_UNITY, rounding_mode="trunc")
    else:
        torch.trunc(x.mul_(keep / DECAY_UNITY), out=x)  # not x.trunc_(): 100x slower in torch 2.x on the CPU


def _peak(x: torch.Tensor) -> float:
    if not x.numel():
        return 0.0
    lo, hi = torch.aminmax(x)
    return max(float(hi), -float(lo))


def _bound(start: float, drive: float, keep: int) -> float:
    """Largest |x| of x[t] = dec(x[t−1]) + d[t] from |x[0]| ≤ start with |d| ≤ drive: max(start, drive/(1 − k))."""
    if keep >= DECAY_UNITY:
        return math.inf
    return max(start, drive * DECAY_UNITY / (DECAY_UNITY - keep))


def run_chunk(op: LoihiLIF, a: torch.Tensor, state: LifState, t0: int, constants: LifConstants,
              count: bool = False, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Spikes [C, B, ...] (float64 0/1) for A [C, B, ...] (float64 integers) at absolute steps t0 … t0+C−1;
    `state` is updated in place. With `count`, current wraps and voltage saturations are added to it.
    dtype: the arithmetic (default float64 when |A|·2^6 < 2^53, else int64; tests force either)."""
    peak_a = _peak(a) * 2**SHIFT
    if dtype is None:
        dtype = torch.float64 if peak_a < FLOAT_EXACT and state.u.dtype == torch.float64 else torch.int64
    u, v = state.u.to(dtype), state.v.to(dtype)
    a64 = a.to(dtype) * 2**SHIFT
    out = torch.empty(a.shape, dtype=torch.float64, device=a.device)
    spikes = torch.empty(v.shape, dtype=torch.bool, device=a.device)
    memoryless = constants.keep_u == 0
    u_peak = peak_a if memoryless else _bound(_peak(u), peak_a, constants.keep_u)
    wrap = u_peak >= STATE_LIMIT
    if memoryless:  # u[t] = wrap(64·A[t]) for the whole chunk at once
        if wrap and count:
            state.wraps += int(torch.count_nonzero((a64 > STATE_LIMIT) | (a64 <= -STATE_LIMIT)))
        u_all = _wrap_once(a64) if wrap else a64
    clip = _bound(_peak(v), u_peak + constants.bias_peak, constants.keep_v) > _LIMIT  # a wrap never grows |u|
    bias = None if constants.bias is None else constants.bias.to(dtype)
    zero = torch.zeros((), dtype=dtype, device=a.device)
    for k in range(a.shape[0]):
        if resets_at(t0 + k, op.period, op.phase):
            if not memoryless:
                u.zero_()
            v.zero_()
        if memoryless:
            u = u_all[k]
        else:
            _decay_(u, constants.keep_u)
            u.add_(a64[k])
            if wrap:
                if count:
                    state.wraps += int(torch.count_nonzero((u > STATE_LIMIT) | (u <= -STATE_LIMIT)))
                u = _wrap_once(u)
        _decay_(v, constants.keep_v)
        v.add_(u)
        if bias is not None:
            v.add_(bias)
        if clip:
            if count:
                state.saturations += int(torch.count_nonzero(v.abs() > _LIMIT))
            v.clamp_(-_LIMIT, _LIMIT)
        torch.gt(v, constants.theta, out=spikes)
        out[k] = spikes
        torch.where(spikes, zero, v, out=v)  # v := 0 where s (masked_fill_ is 3x slower on the CPU)
    state.u, state.v = (u.clone() if memoryless else u), v
    return out


def _wrap_once(u: torch.Tensor) -> torch.Tensor:
    """Lava's single conditional wrap: u − 2^24 above 2^23, u + 2^24 at or below −2^23."""
    return torch.where(u > STATE_LIMIT, u - 2 * STATE_LIMIT, torch.where(u <= -STATE_LIMIT, u + 2 * STATE_LIMIT, u))


def lif_kernel(a: np.ndarray | torch.Tensor, op: LoihiLIF, batch: int, events: dict[str, int] | None = None,
               dtype: torch.dtype | None = None) -> np.ndarray:
    """The LoihiLIF update over A [T, B·N] (float64 integers) from the zero state; spikes [T, B·N] as 0.0/1.0.
    `events`, if given, counts current wraps ("wraps") and voltage saturations ("saturations")."""
    x = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a, dtype=torch.float64)
    steps = x.shape[0]
    shaped = x.reshape(steps, batch, -1)
    shape = tuple(op.bias.shape) if op.bias is not None else (shaped.shape[2],)
    shaped = shaped.reshape(steps, batch, *shape)
    state = initial_state(tuple(shaped.shape[1:]), shaped.device)
    out = run_chunk(op, shaped, state, 0, LifConstants.of(op, shaped.device), count=events is not None,
                    dtype=dtype)
    if events is not None:
        events["wraps"] = events.get("wraps", 0) + state.wraps
        events["saturations"] = events.get("saturations", 0) + state.saturations
    return out.reshape(steps, -1).cpu().numpy()
