"""LoihiLIF's integer update (Lava fixed_pt) as torch int64 tensor ops: the one implementation of the arithmetic.

Every quantity is an int64 tensor on the op's device; the bounds that keep int64 exact (|x| < 2^63):
    |u|, |v| ≤ 2^23 after wrap/clamp, so u·keep and v·keep < 2^35;  A·2^6 < 2^63 needs |A| < 2^56, and A is a
    float64 integer below 2^53 (numerics.py), so A·2^6 < 2^59.  No float rounding enters: dec() is torch's
    truncating integer division, Lava's sgn(x)·⌊|x| / 2^12⌋.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from snncompile.targets.loihi.caps import DECAY_UNITY, SHIFT, STATE_LIMIT
from snncompile.targets.loihi.ops import LoihiLIF, resets_at

_LIMIT = STATE_LIMIT - 1


@dataclass
class LifState:
    """u and v of a population between time chunks (int64, [B, *shape]) and the events counted so far."""

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


def initial_state(shape: tuple[int, ...], device: torch.device) -> LifState:
    zero = torch.zeros(shape, dtype=torch.int64, device=device)
    return LifState(zero, zero.clone())


def _decay(x: torch.Tensor, keep: int) -> torch.Tensor:
    """dec(x) = sgn(x·keep)·⌊|x·keep| / 2^12⌋ (truncation toward zero)."""
    if keep == DECAY_UNITY:
        return x
    if keep == 0:
        return torch.zeros_like(x)
    return torch.div(x * keep, DECAY_UNITY, rounding_mode="trunc")


def run_chunk(op: LoihiLIF, a: torch.Tensor, state: LifState, t0: int, constants: LifConstants,
              count: bool = False) -> torch.Tensor:
    """Spikes [C, B, ...] (float64 0/1) for A [C, B, ...] (float64 integers) at absolute steps t0 … t0+C−1;
    `state` is updated in place. With `count`, current wraps and voltage saturations are added to it."""
    a64 = a.to(torch.int64) * 2**SHIFT
    out = torch.empty(a.shape, dtype=torch.float64, device=a.device)
    u, v = state.u, state.v
    theta = constants.theta
    memoryless = constants.keep_u == 0
    if memoryless:  # u[t] = wrap(64·A[t]) for the whole chunk at once
        if count:
            state.wraps += int(torch.count_nonzero((a64 > STATE_LIMIT) | (a64 <= -STATE_LIMIT)))
        u_all = _wrap_once(a64)
    for k in range(a.shape[0]):
        if resets_at(t0 + k, op.period, op.phase):
            u, v = torch.zeros_like(u), torch.zeros_like(v)
        if memoryless:
            u = u_all[k]
        else:
            u1 = _decay(u, constants.keep_u) + a64[k]
            if count:
                state.wraps += int(torch.count_nonzero((u1 > STATE_LIMIT) | (u1 <= -STATE_LIMIT)))
            u = _wrap_once(u1)
        v1 = _decay(v, constants.keep_v) + u
        if constants.bias is not None:
            v1 = v1 + constants.bias
        if count:
            state.saturations += int(torch.count_nonzero(v1.abs() > _LIMIT))
        v1 = v1.clamp(-_LIMIT, _LIMIT)
        spikes = v1 > theta
        out[k] = spikes
        v = v1.masked_fill(spikes, 0)
    state.u, state.v = (u.clone() if memoryless else u), v
    return out


def _wrap_once(u: torch.Tensor) -> torch.Tensor:
    """Lava's single conditional wrap: u − 2^24 above 2^23, u + 2^24 at or below −2^23."""
    return torch.where(u > STATE_LIMIT, u - 2 * STATE_LIMIT, torch.where(u <= -STATE_LIMIT, u + 2 * STATE_LIMIT, u))


def lif_kernel(a: np.ndarray | torch.Tensor, op: LoihiLIF, batch: int, events: dict[str, int] | None = None
               ) -> np.ndarray:
    """The LoihiLIF update over A [T, B·N] (float64 integers) from the zero state; spikes [T, B·N] as 0.0/1.0.
    `events`, if given, counts current wraps ("wraps") and voltage saturations ("saturations")."""
    x = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a, dtype=torch.float64)
    steps = x.shape[0]
    shaped = x.reshape(steps, batch, -1)
    shape = tuple(op.bias.shape) if op.bias is not None else (shaped.shape[2],)
    shaped = shaped.reshape(steps, batch, *shape)
    state = initial_state(tuple(shaped.shape[1:]), shaped.device)
    out = run_chunk(op, shaped, state, 0, LifConstants.of(op, shaped.device), count=events is not None)
    if events is not None:
        events["wraps"] = events.get("wraps", 0) + state.wraps
        events["saturations"] = events.get("saturations", 0) + state.saturations
    return out.reshape(steps, -1).cpu().numpy()
