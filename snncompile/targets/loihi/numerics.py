"""Bit-exact Lava fixed_pt numerics for the simulator (LOIHI_OPS), and float ops of the pipelined graph.

Integers travel as float64: products of weights |w| ≤ 256 and payloads below 2^24, and their sums below
2^53, are exact there, so BLAS matmul and conv compute Lava's integer sums exactly (tests prove it).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from snncompile import ir
from snncompile.sim.float_ops import FLOAT_OPS, OpImpl, Seq, _param, _per_step, _record_margin, _sum, implements
from snncompile.sim.interpreter import SimResult, simulate
from snncompile.targets.loihi import fastlif
from snncompile.targets.loihi.caps import DECAY_UNITY, SHIFT, STATE_LIMIT
from snncompile.targets.loihi.ops import Encode, LoihiLIF, ScheduledLIF, SkipDense, WindowReadout, resets_at

FLOAT32_EXACT = 2**24


@implements(ScheduledLIF)
def _scheduled_lif(op: ScheduledLIF, xs: list[Seq]) -> Seq:
    """ir.LIF's float update, in the same operation order, with the state zeroed on reset steps (and the
    synaptic current i[t] = syn_decay·i[t−1] + x[t] as the drive when syn_decay is set)."""
    x = _sum(xs)
    decay, theta = _param(op.decay, x), _param(op.threshold, x).unsqueeze(1)
    gain = None if op.gain is None else _param(op.gain, x)
    syn = None if op.syn_decay is None else _param(op.syn_decay, x)
    v = torch.zeros((op.levels, *x.shape[1:]), dtype=x.dtype, device=x.device)
    i = torch.zeros_like(x[0])
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        if resets_at(t, op.period, op.phase):
            v, i = torch.zeros_like(v), torch.zeros_like(i)
        i = x[t] if syn is None else syn * i + x[t]
        drive = i if gain is None else gain * i
        h = decay * v + drive
        s = (h > theta if op.comparison == ">" else h >= theta).to(x.dtype)
        if t >= op.phase:
            _record_margin(op, (h - theta) / theta.abs().clamp(min=1e-300))
        v = h * (1 - s) if op.reset == "zero" else (h - theta * s if op.reset == "subtract" else h)
        out[t] = s.sum(0) if op.levels > 1 else s[0]
    return out


@implements(WindowReadout)
def _window_readout(op: WindowReadout, xs: list[Seq]) -> Seq:
    x = _sum(xs)[op.start:op.start + op.length]
    bias = None if op.bias is None else _param(op.bias, x)
    return F.linear(x, _param(op.weight, x), bias).mean(0)


@implements(SkipDense)
def _skip_dense(op: SkipDense, xs: list[Seq]) -> Seq:
    x = xs[0]
    y = x.flatten(2) @ _param(op.weight, x).T
    return y.reshape(*x.shape[:2], *op.shape)


def _encode(op: Encode, xs: list[Seq]) -> Seq:
    return torch.clamp(torch.floor(xs[0] * op.scale + 0.5), op.low, op.high)


_WEIGHTS: weakref.WeakKeyDictionary[ir.Op, tuple[float, torch.Tensor]] = weakref.WeakKeyDictionary()


def _weights32(op: ir.Op) -> tuple[float, torch.Tensor]:
    """Largest row sum of |W| (bounds every partial sum) and W as float32; cached per (immutable) op."""
    if op not in _WEIGHTS:
        w = np.asarray(op.weight)  # type: ignore[attr-defined]
        _WEIGHTS[op] = (float(np.abs(w).reshape(w.shape[0], -1).sum(1).max()), torch.from_numpy(w.astype(np.float32)))
    return _WEIGHTS[op]


def _dense(op: ir.Dense, xs: list[Seq]) -> Seq:
    x = xs[0]
    row_sum, w32 = _weights32(op)
    if x.numel() == 0 or row_sum * _peak(x) < FLOAT32_EXACT:  # every partial sum is an integer below 2^24
        return F.linear(x.float(), w32).double()
    return F.linear(x, _param(op.weight, x))


def wrap24(x: Seq) -> Seq:
    """Two's-complement wrap to 24 bits (Lava's Conv `signed_clamp`)."""
    return torch.remainder(x + STATE_LIMIT, 2 * STATE_LIMIT) - STATE_LIMIT


def _peak(x: Seq) -> float:
    lo, hi = torch.aminmax(x)
    return max(float(hi), -float(lo))


def _conv(op: ir.Conv2d, xs: list[Seq]) -> Seq:
    x = xs[0]
    row_sum, w32 = _weights32(op)
    bound = row_sum * _peak(x) if x.numel() else 0.0
    y = None
    if bound < FLOAT32_EXACT:
        # 10x faster than float64 and exact for integer sums below 2^24 with direct/GEMM algorithms; NNPACK's
        # Winograd/FFT kernels are not, so they are switched off, and a non-integer sample falls back.
        with torch.backends.nnpack.flags(enabled=False):
            y32 = _per_step(x.float(), lambda v: F.conv2d(v, w32, None, op.stride, op.padding, op.dilation, op.groups))
        probe = y32.reshape(-1)[::97]
        y = y32.double() if torch.equal(probe, torch.round(probe)) else None
    if y is None:
        w = _param(op.weight, x)
        y = _per_step(x, lambda v: F.conv2d(v, w, None, op.stride, op.padding, op.dilation, op.groups))
    return y if bound < STATE_LIMIT else wrap24(y)


def _loihi_lif(op: LoihiLIF, xs: list[Seq]) -> Seq:
    a = _sum(xs)
    spikes = lif_kernel(a.reshape(a.shape[0], -1).numpy(), op, batch=a.shape[1])
    return torch.from_numpy(spikes).reshape(a.shape)


def lif_kernel(a: np.ndarray, op: LoihiLIF, batch: int, events: dict[str, int] | None = None,
               use_c: bool = True) -> np.ndarray:
    """The LoihiLIF update over A [T, B·N] (float64 integers); returns spikes [T, B·N] as 0.0/1.0.
    `events`, if given, counts current wraps ("wraps") and voltage saturations ("saturations").
    Runs the C loop of fastlif.py when it is available, else this numpy loop (same results)."""
    steps, width = a.shape
    bias = np.zeros(width // batch) if op.bias is None else op.bias.reshape(-1)
    b16 = np.tile((np.mod(bias + 2**15, 2**16) - 2**15) * 2**SHIFT, batch)
    if use_c:
        fast = fastlif.run(a, b16.astype(np.int64), DECAY_UNITY - op.i_decay, DECAY_UNITY - op.v_decay,
                           op.threshold * 2**SHIFT, op.period, op.phase, events)
        if fast is not None:
            return fast
    keep_u = (DECAY_UNITY - op.i_decay) / DECAY_UNITY
    keep_v = (DECAY_UNITY - op.v_decay) / DECAY_UNITY
    theta = float(op.threshold * 2**SHIFT)
    u_all = _wrap_once(a * 2**SHIFT) if keep_u == 0 else None
    if events is not None and u_all is not None:
        events["wraps"] = events.get("wraps", 0) + int(np.count_nonzero(np.abs(a * 2**SHIFT - 0.5) > STATE_LIMIT))
    limit = float(STATE_LIMIT - 1)
    drive = (np.abs(u_all).max() if u_all is not None and u_all.size else float(2 * STATE_LIMIT)) \
        + (np.abs(b16).max() if b16.size else 0.0)
    needs_clip = keep_v >= 1 or drive / (1 - keep_v) >= limit
    u, v = np.zeros(width), np.zeros(width)
    out = np.empty((steps, width))
    for t in range(steps):
        if resets_at(t, op.period, op.phase):
            u[:] = 0
            v[:] = 0
        if u_all is None:
            np.multiply(u, keep_u, out=u)
            np.trunc(u, out=u)
            u += a[t] * 2**SHIFT
            if events is not None:
                events["wraps"] = events.get("wraps", 0) + int(np.count_nonzero(np.abs(u - 0.5) > STATE_LIMIT))
            u = _wrap_once(u)
        np.multiply(v, keep_v, out=v)
        np.trunc(v, out=v)
        v += u_all[t] if u_all is not None else u
        v += b16
        if needs_clip:
            if events is not None:
                events["saturations"] = events.get("saturations", 0) + int(np.count_nonzero(np.abs(v) > limit))
            np.clip(v, -limit, limit, out=v)
        s = np.greater(v, theta, out=out[t])
        v *= s == 0
    return out


def _wrap_once(u: np.ndarray) -> np.ndarray:
    """Lava's single conditional wrap: u − 2^24 above 2^23, u + 2^24 at or below −2^23."""
    return np.where(u > STATE_LIMIT, u - 2 * STATE_LIMIT, np.where(u <= -STATE_LIMIT, u + 2 * STATE_LIMIT, u))


implements(Encode)(_encode)
implements(LoihiLIF)(_loihi_lif)  # the float interpreter runs compacted fixed-point graphs

LOIHI_OPS: dict[type[ir.Op], OpImpl] = {
    **{t: FLOAT_OPS[t] for t in (ir.Flatten, ir.Pool2d, ir.Readout, WindowReadout, SkipDense)},
    Encode: _encode, ir.Dense: _dense, ir.Conv2d: _conv, LoihiLIF: _loihi_lif,  # type: ignore[dict-item]
}
"""Op implementations with Lava fixed_pt semantics; host-side ops (readout, its pooling) stay float."""


def simulate_loihi(graph: ir.Graph, x: np.ndarray | torch.Tensor | Mapping[str, Any], *, pad: bool = True,
                   record: str = "all", pipelined: bool = True) -> SimResult:
    """Run a fixed-point graph bit-exactly on real-valued input x [T, B, ...]; with `pad`, L zero frames
    are appended so that the last input frame reaches the last layer (T + L steps).

    pipelined=False runs the same integer dynamics without the pipeline (T steps, every population's
    window starting at step 0): exactly the valid windows of the pipelined run, L/T times faster to evaluate.
    """
    if not pipelined:
        return simulate(compact(graph), x, record=record, numerics=LOIHI_OPS)
    if pad and not isinstance(x, Mapping):
        x = pad_input(x, graph.metadata["loihi"]["latency"])
    return simulate(graph, x, record=record, numerics=LOIHI_OPS)


def compact(graph: ir.Graph) -> ir.Graph:
    """The fixed-point graph without hop delays, resets after step 0, or readout offset."""
    nodes: list[ir.Op] = []
    for n in graph.nodes:
        if isinstance(n, (LoihiLIF, WindowReadout)):
            extra = {"period": 0, "phase": 0} if isinstance(n, LoihiLIF) else {"start": 0}
            n = n.replace(inputs=tuple(ir.Edge(e.src) for e in n.inputs), **extra)
        nodes.append(n)
    return graph.with_nodes(nodes)


def pad_input(x: np.ndarray | torch.Tensor, latency: int) -> np.ndarray:
    """x [T, B, ...] followed by `latency` zero frames."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.concatenate([arr, np.zeros((latency, *arr.shape[1:]), dtype=arr.dtype)])
