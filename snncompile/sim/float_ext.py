"""Float numerics of the library-neuron ops in ir.ops_ext (equations in the op docstrings)."""

from __future__ import annotations

import torch

from snncompile.ir.ops_ext import LIFExt
from snncompile.sim.carry import Carry
from snncompile.sim.float_ops import _param, _record_margin, _sum, implements


@implements(LIFExt)
def _float_lif_ext(op: LIFExt, xs: list[torch.Tensor], carry: Carry | None = None) -> torch.Tensor:
    x = _sum(xs)
    decay, theta = _param(op.decay, x), _param(op.threshold, x)
    syn = None if op.syn_decay is None else _param(op.syn_decay, x)
    gain = None if op.gain is None else _param(op.gain, x)

    def fire(value: torch.Tensor) -> torch.Tensor:
        _record_margin(op, (value - theta) / theta.abs().clamp(min=1e-300))
        return (value > theta if op.comparison == ">" else value >= theta).to(x.dtype)

    slots = (carry or Carry()).slots
    i, v = slots.get("i", torch.zeros_like(x[0])), slots.get("v", torch.zeros_like(x[0]))
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        i = x[t] if syn is None else syn * i + x[t]
        h = decay * v + (i if gain is None else gain * i)
        if op.reset_timing == "immediate":
            s = fire(h)
            v = h * (1 - s) if op.reset == "zero" else h - theta * s if op.reset == "subtract" else h
        elif op.reset_timing == "delayed":
            r = (v > theta).to(x.dtype)
            v = h - theta * r if op.reset == "subtract" else h * (1 - r)
            s = fire(v)
        else:
            r = (v > theta).to(x.dtype)
            s = fire(h - theta * r)
            v = h - theta * s
        out[t] = s
    slots["i"], slots["v"] = i, v
    return out
