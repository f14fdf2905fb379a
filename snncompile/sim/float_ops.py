"""Float reference numerics: each IR op on a time chunk [C, B, ...] (state in a Carry), in the op docstring's order.

The order of floating-point operations mirrors snncompile.nn, so a traced graph reproduces the PyTorch
model bit for bit in the same dtype (conv and matmul run through the same torch kernels and shapes).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F

from snncompile import ir
from snncompile.ir.ops_norm import channel_view
from snncompile.sim.carry import Carry, OpImpl, Seq

FLOAT_OPS: dict[type[ir.Op], OpImpl] = {}

MARGINS: ContextVar[dict[str, float] | None] = ContextVar("MARGINS", default=None)
"""When set to a dict, neuron ops record min over neurons and steps of |drive − threshold| per node:
how close a spike decision came to flipping (used to reject float near-ties in differential tests)."""


def _record_margin(op: ir.Op, distance: Seq) -> None:
    margins = MARGINS.get()
    if margins is not None:
        current = float(distance.abs().min()) if distance.numel() else float("inf")
        margins[op.name] = min(margins.get(op.name, float("inf")), current)


Impl = TypeVar("Impl", bound=Callable[..., Any])


def implements(*op_types: type[ir.Op]) -> Callable[[Impl], Impl]:
    """Registers the decorated function as the float numerics of `op_types`: fn(op, xs, carry=None) on a time
    chunk (an fn(op, xs) without a Carry makes the simulator run whole sequences in one chunk)."""
    def register(fn: Impl) -> Impl:
        for t in op_types:
            # FLOAT_OPS pairs each op type with the function for exactly that type, which a dict type cannot say
            FLOAT_OPS[t] = cast(OpImpl, fn)
        return fn
    return register


def _param(array: object, like: Seq) -> Seq:
    return torch.tensor(array, dtype=like.dtype, device=like.device)


def _per_step(x: Seq, fn: Callable[[Seq], Seq]) -> Seq:
    t, b = x.shape[:2]
    y = fn(x.reshape(t * b, *x.shape[2:]))
    return y.reshape(t, b, *y.shape[1:])


@implements(ir.Dense)
def _dense(op: ir.Dense, xs: list[Seq], carry: Carry | None = None) -> Seq:
    bias = None if op.bias is None else _param(op.bias, xs[0])
    return F.linear(xs[0], _param(op.weight, xs[0]), bias)


@implements(ir.Conv2d)
def _conv(op: ir.Conv2d, xs: list[Seq], carry: Carry | None = None) -> Seq:
    w = _param(op.weight, xs[0])
    b = None if op.bias is None else _param(op.bias, xs[0])
    return _per_step(xs[0], lambda x: F.conv2d(x, w, b, op.stride, op.padding, op.dilation, op.groups))


@implements(ir.Pool2d)
def _pool(op: ir.Pool2d, xs: list[Seq], carry: Carry | None = None) -> Seq:
    divisor = 1 if op.mode == "sum" else None
    return _per_step(xs[0], lambda x: F.avg_pool2d(x, op.kernel, op.stride, op.padding,
                                                    count_include_pad=True, divisor_override=divisor))


@implements(ir.MaxPool2d)
def _maxpool(op: ir.MaxPool2d, xs: list[Seq], carry: Carry | None = None) -> Seq:
    return _per_step(xs[0], lambda x: F.max_pool2d(x, op.kernel, op.stride, op.padding, op.dilation))


@implements(ir.Flatten)
def _flatten(op: ir.Flatten, xs: list[Seq], carry: Carry | None = None) -> Seq:
    return xs[0].flatten(2)


@implements(ir.Identity)
def _identity(op: ir.Identity, xs: list[Seq], carry: Carry | None = None) -> Seq:
    return xs[0]


def _sum(xs: list[Seq]) -> Seq:
    """Σ_i x_i, left to right (the order fixes the float rounding)."""
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


@implements(ir.Add)
def _add(op: ir.Add, xs: list[Seq], carry: Carry | None = None) -> Seq:
    return _sum(xs)


@implements(ir.BatchNorm)
def _batchnorm(op: ir.BatchNorm, xs: list[Seq], carry: Carry | None = None) -> Seq:
    x = xs[0]
    rank = x.dim() - 2
    var = _param(op.var, x)
    denom = torch.sqrt(var + op.eps) if op.eps_inside else torch.sqrt(var) + op.eps
    gain = _param(op.weight, x) * op.scale
    mean, bias = _param(op.mean, x), _param(op.bias, x)
    return (x - channel_view(mean, rank)) / channel_view(denom, rank) * channel_view(gain, rank) \
        + channel_view(bias, rank)


@implements(ir.PSPNorm)
def _pspnorm(op: ir.PSPNorm, xs: list[Seq], carry: Carry | None = None) -> Seq:
    x = xs[0]
    rank = x.dim() - 2
    factor = _param(op.weight, x) / torch.sqrt(_param(op.moment2, x) + op.eps)
    y = x * channel_view(factor, rank)
    return y if op.bias is None else y + channel_view(_param(op.bias, x), rank)


@implements(ir.LIF)
def _lif(op: ir.LIF, xs: list[Seq], carry: Carry | None = None) -> Seq:
    x = _sum(xs)
    decay, theta = _param(op.decay, x), _param(op.threshold, x).unsqueeze(1)  # theta: [K, 1, ...]
    gain = None if op.gain is None else _param(op.gain, x)
    slots = (carry or Carry()).slots
    v = slots.get("v")
    if v is None:
        v = torch.zeros((op.levels, *x.shape[1:]), dtype=x.dtype, device=x.device)
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        drive = x[t] if gain is None else gain * x[t]
        h = decay * v + drive
        s = (h > theta if op.comparison == ">" else h >= theta).to(x.dtype)
        _record_margin(op, (h - theta) / theta.abs().clamp(min=1e-300))
        if op.reset == "zero":
            v = h * (1 - s)
        elif op.reset == "subtract":
            v = h - theta * s
        else:
            v = h
        out[t] = _sum_levels(s)
    slots["v"] = v
    return out


def _sum_levels(s: Seq) -> Seq:
    total = s[0]
    for k in range(1, s.shape[0]):
        total = total + s[k]
    return total


@implements(ir.MPBNLIF)
def _mpbn_lif(op: ir.MPBNLIF, xs: list[Seq], carry: Carry | None = None) -> Seq:
    x = _sum(xs)
    decay = _param(op.decay, x)
    mean, var = _param(op.mean, x), _param(op.var, x)
    weight, bias = _param(op.weight, x), _param(op.bias, x)
    denom = torch.sqrt(var + op.eps)
    slots = (carry or Carry()).slots
    v = slots.get("v", torch.zeros_like(x[0]))
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        h = decay * v + x[t]
        normed = (h - mean) / denom * weight + bias
        s = (normed / op.v_th > op.fire_level).to(x.dtype)
        _record_margin(op, normed / op.v_th - op.fire_level)
        v = h * (1 - s) if op.reset == "zero" else h - s
        out[t] = s
    slots["v"] = v
    return out


@implements(ir.Readout)
def _readout(op: ir.Readout, xs: list[Seq], carry: Carry | None = None) -> Seq:
    x = _sum(xs)
    bias = None if op.bias is None else _param(op.bias, x)
    return mean_so_far(carry, F.linear(x, _param(op.weight, x), bias))


def mean_so_far(carry: Carry | None, values: Seq) -> Seq:
    """The mean over every step seen so far of per-step values [C, B, classes] (kept in the carry: T·B·classes
    numbers), taken over the whole sequence at once so that its rounding does not depend on the chunking."""
    steps: list[Seq] = (carry or Carry()).slots.setdefault("steps", [])
    steps.append(values)
    if len(steps) > 1:
        steps[:] = [torch.cat(steps)]
    return steps[0].mean(0)
