"""Bit-exact Lava fixed_pt numerics for the simulator (LOIHI_OPS), and float ops of the pipelined graph.

Integers travel between ops as float64: products of weights |w| ≤ 256 and payloads below 2^24, and their sums
below 2^53, are exact there, so matmul and conv compute Lava's integer sums exactly (docs/LOIHI.md, the
simulator section). The LIF update itself runs in int64 (lif_int.py), on the CPU or a CUDA device.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from snncompile import ir
from snncompile.sim.carry import Carry
from snncompile.sim.float_ops import (
    FLOAT_OPS,
    OpImpl,
    Seq,
    _param,
    _per_step,
    _record_margin,
    _sum,
    implements,
    mean_so_far,
)
from snncompile.sim.interpreter import SimResult, simulate
from snncompile.targets.loihi.caps import STATE_LIMIT
from snncompile.targets.loihi.lif_int import LifConstants, initial_state, lif_kernel, run_chunk
from snncompile.targets.loihi.ops import Encode, LoihiLIF, ScheduledLIF, SkipDense, WindowReadout, resets_at

__all__ = ["LOIHI_OPS", "compact", "lif_kernel", "pad_input", "simulate_loihi", "wrap24"]

FLOAT32_EXACT = 2**24


@implements(ScheduledLIF)
def _scheduled_lif(op: ScheduledLIF, xs: list[Seq], carry: Carry | None = None) -> Seq:
    """ir.LIF's float update, in the same operation order, with the state zeroed on reset steps (and the
    synaptic current i[t] = syn_decay·i[t−1] + x[t] as the drive when syn_decay is set)."""
    x = _sum(xs)
    decay, theta = _param(op.decay, x), _param(op.threshold, x).unsqueeze(1)
    gain = None if op.gain is None else _param(op.gain, x)
    syn = None if op.syn_decay is None else _param(op.syn_decay, x)
    carry = carry or Carry()
    v = carry.slots.get("v")
    if v is None:
        v = torch.zeros((op.levels, *x.shape[1:]), dtype=x.dtype, device=x.device)
    i = carry.slots.get("i", torch.zeros_like(x[0]))
    out = torch.empty_like(x)
    for k in range(x.shape[0]):
        t = carry.t0 + k
        if resets_at(t, op.period, op.phase):
            v, i = torch.zeros_like(v), torch.zeros_like(i)
        i = x[k] if syn is None else syn * i + x[k]
        drive = i if gain is None else gain * i
        h = decay * v + drive
        s = (h > theta if op.comparison == ">" else h >= theta).to(x.dtype)
        if t >= op.phase:
            _record_margin(op, (h - theta) / theta.abs().clamp(min=1e-300))
        v = h * (1 - s) if op.reset == "zero" else (h - theta * s if op.reset == "subtract" else h)
        out[k] = s.sum(0) if op.levels > 1 else s[0]
    carry.slots["v"], carry.slots["i"] = v, i
    return out


@implements(WindowReadout)
def _window_readout(op: WindowReadout, xs: list[Seq], carry: Carry | None = None) -> Seq:
    t0 = 0 if carry is None else carry.t0
    x = _sum(xs)[max(0, op.start - t0):max(0, op.start + op.length - t0)]  # the window's frames in this chunk
    bias = None if op.bias is None else _param(op.bias, x)
    return mean_so_far(carry, F.linear(x, _param(op.weight, x), bias))


@implements(SkipDense)
def _skip_dense(op: SkipDense, xs: list[Seq], carry: Carry | None = None) -> Seq:
    x = xs[0]
    y = x.flatten(2) @ _param(op.weight, x).T
    return y.reshape(*x.shape[:2], *op.shape)


def _encode(op: Encode, xs: list[Seq], carry: Carry | None = None) -> Seq:
    return torch.clamp(torch.floor(xs[0] * op.scale + 0.5), op.low, op.high)


_WEIGHTS: weakref.WeakKeyDictionary[ir.Op, tuple[float, dict[torch.device, torch.Tensor]]] = \
    weakref.WeakKeyDictionary()


def _weights32(op: ir.Op, device: torch.device) -> tuple[float, torch.Tensor]:
    """Largest row sum of |W| (bounds every partial sum) and W as float32 on `device`; cached per (immutable) op."""
    if op not in _WEIGHTS:
        w = np.asarray(op.weight)  # type: ignore[attr-defined]
        _WEIGHTS[op] = (float(np.abs(w).reshape(w.shape[0], -1).sum(1).max()), {})
    row_sum, copies = _WEIGHTS[op]
    if device not in copies:
        copies[device] = torch.from_numpy(np.asarray(op.weight, dtype=np.float32)).to(device)  # type: ignore[attr-defined]
    return row_sum, copies[device]


def _dense(op: ir.Dense, xs: list[Seq], carry: Carry | None = None) -> Seq:
    x = xs[0]
    row_sum, w32 = _weights32(op, x.device)
    if x.numel() == 0 or row_sum * _peak(x) < FLOAT32_EXACT:  # every partial sum is an integer below 2^24
        return F.linear(x.float(), w32).double()
    return F.linear(x, _param(op.weight, x))


def wrap24(x: Seq) -> Seq:
    """Two's-complement wrap to 24 bits (Lava's Conv `signed_clamp`)."""
    return torch.remainder(x + STATE_LIMIT, 2 * STATE_LIMIT) - STATE_LIMIT


def _peak(x: Seq) -> float:
    lo, hi = torch.aminmax(x)
    return max(float(hi), -float(lo))


def _exact_conv_backend(x: Seq) -> Any:
    """No NNPACK on the CPU and no cuDNN on CUDA: their Winograd/FFT kernels do not sum integer products
    exactly; the remaining direct and im2col+GEMM kernels do (every partial sum is an integer below 2^24)."""
    if x.is_cuda:
        return torch.backends.cudnn.flags(enabled=False)
    return torch.backends.nnpack.flags(enabled=False) if hasattr(torch.backends, "nnpack") else nullcontext()


def _conv(op: ir.Conv2d, xs: list[Seq], carry: Carry | None = None) -> Seq:
    x = xs[0]
    row_sum, w32 = _weights32(op, x.device)
    bound = row_sum * _peak(x) if x.numel() else 0.0
    y = None
    with _exact_conv_backend(x):
        if bound < FLOAT32_EXACT:
            # 10x faster than float64; a non-integer sample (a kernel that is not exact after all) falls back
            y32 = _per_step(x.float(), lambda v: F.conv2d(v, w32, None, op.stride, op.padding, op.dilation, op.groups))
            probe = y32.reshape(-1)[::97]
            y = y32.double() if torch.equal(probe, torch.round(probe)) else None
        if y is None:
            w = _param(op.weight, x)
            y = _per_step(x, lambda v: F.conv2d(v, w, None, op.stride, op.padding, op.dilation, op.groups))
    return y if bound < STATE_LIMIT else wrap24(y)


def _loihi_lif(op: LoihiLIF, xs: list[Seq], carry: Carry | None = None) -> Seq:
    """LoihiLIF's int64 update (lif_int.run_chunk) on this chunk; the state and the register constants stay in
    the carry. With carry.slots["events"] set to a dict, wraps and saturations are added to it."""
    a = _sum(xs)
    carry = carry or Carry()
    if "state" not in carry.slots:
        carry.slots["state"] = initial_state(tuple(a.shape[1:]), a.device)
        carry.slots["constants"] = LifConstants.of(op, a.device)
    state = carry.slots["state"]
    events = carry.slots.get("events")
    before = (state.wraps, state.saturations)
    out = run_chunk(op, a, state, carry.t0, carry.slots["constants"], count=events is not None)
    if events is not None:
        events["wraps"] = events.get("wraps", 0) + state.wraps - before[0]
        events["saturations"] = events.get("saturations", 0) + state.saturations - before[1]
    return out


implements(Encode)(_encode)
implements(LoihiLIF)(_loihi_lif)  # the float interpreter runs compacted fixed-point graphs

LOIHI_OPS: dict[type[ir.Op], OpImpl] = {
    **{t: FLOAT_OPS[t] for t in (ir.Flatten, ir.Pool2d, ir.Readout, WindowReadout, SkipDense)},
    Encode: _encode, ir.Dense: _dense, ir.Conv2d: _conv, LoihiLIF: _loihi_lif,
}
"""Op implementations with Lava fixed_pt semantics; host-side ops (readout, its pooling) stay float."""


def simulate_loihi(graph: ir.Graph, x: np.ndarray | torch.Tensor | Mapping[str, Any], *, pad: bool = True,
                   record: str | Collection[str] = "all", pipelined: bool = True,
                   device: str | torch.device | None = None, chunk: int | None = None) -> SimResult:
    """Run a fixed-point graph bit-exactly on real-valued input x [T, B, ...]; with `pad`, L zero frames
    are appended so that the last input frame reaches the last layer (T + L steps).

    pipelined=False runs the same integer dynamics without the pipeline (T steps, every population's
    window starting at step 0): exactly the valid windows of the pipelined run, L/T times faster to evaluate.
    device "cpu" or "cuda" and chunk (frames per time chunk) as in simulate(); spikes do not depend on either.
    """
    if not pipelined:
        return simulate(compact(graph), x, record=record, numerics=LOIHI_OPS, device=device, chunk=chunk)
    if pad and not isinstance(x, Mapping):
        x = pad_input(x, graph.metadata["loihi"]["latency"])
    return simulate(graph, x, record=record, numerics=LOIHI_OPS, device=device, chunk=chunk)


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
