"""Converters for snncompile.nn layers: neurons, norms, TimeDistributed and the readout."""

from __future__ import annotations

import numpy as np

from snncompile import ir
from snncompile import nn as snn
from snncompile.frontend.pytorch.converters import ConvertContext, register_converter
from snncompile.frontend.pytorch.torch_nn import _np, sequential


@register_converter(snn.LIF)
def lif(ctx: ConvertContext, m: snn.LIF, path: str, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])
    return ctx.add(ir.LIF, inputs, path, decay=np.full(shape, m.decay), threshold=np.full((1, *shape), m.v_th),
                   comparison=">", reset=m.reset)


@register_converter(snn.MLF)
def mlf(ctx: ConvertContext, m: snn.MLF, path: str, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])
    threshold = np.stack([np.full(shape, v) for v in m.thresholds])
    return ctx.add(ir.LIF, inputs, path, decay=np.full(shape, m.decay), threshold=threshold,
                   comparison=">", reset="zero")


@register_converter(snn.S2NN)
def s2nn(ctx: ConvertContext, m: snn.S2NN, path: str, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])
    return ctx.add(ir.LIF, inputs, path, decay=np.zeros(shape), threshold=np.full((1, *shape), m.v_th),
                   comparison=">=", reset="none")


@register_converter(snn.TDBatchNorm)
def tdbn(ctx: ConvertContext, m: snn.TDBatchNorm, path: str, inputs: list[str]) -> str:
    return ctx.add(ir.BatchNorm, inputs, path, mean=_np(m.running_mean), var=_np(m.running_var),
                   weight=_np(m.weight), bias=_np(m.bias), eps=m.eps, scale=m.scale, eps_inside=m.eps_inside)


@register_converter(snn.PSPNorm)
def pspnorm(ctx: ConvertContext, m: snn.PSPNorm, path: str, inputs: list[str]) -> str:
    return ctx.add(ir.PSPNorm, inputs, path, moment2=_np(m.running_moment2), weight=_np(m.weight),
                   bias=_np(m.bias), eps=m.eps)


@register_converter(snn.MPBNLIF)
def mpbn_lif(ctx: ConvertContext, m: snn.MPBNLIF, path: str, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])
    return ctx.add(ir.MPBNLIF, inputs, path, decay=np.full(shape, m.decay), mean=_np(m.running_mean),
                   var=_np(m.running_var), weight=_np(m.weight), bias=_np(m.bias), eps=m.eps,
                   v_th=m.v_th, fire_level=m.fire_level, reset=m.reset)


@register_converter(snn.TimeDistributed)
def time_distributed(ctx: ConvertContext, m: snn.TimeDistributed, path: str, inputs: list[str]) -> str:
    outer, ctx.batch_dims = ctx.batch_dims, 1
    try:
        return sequential(ctx, m, path, inputs)
    finally:
        ctx.batch_dims = outer


@register_converter(snn.Readout)
def readout(ctx: ConvertContext, m: snn.Readout, path: str, inputs: list[str]) -> str:
    return ctx.add(ir.Readout, inputs, path, weight=_np(m.fc.weight), bias=_np(m.fc.bias))
