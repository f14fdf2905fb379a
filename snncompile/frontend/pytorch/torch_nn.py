"""Converters for standard torch.nn layers (conv, linear, BN, pooling, flatten, identity, dropout)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from torch import nn

from snncompile import ir
from snncompile.errors import error
from snncompile.frontend.pytorch.converters import (
    ConvertContext,
    register_converter,
)


def _np(t: object) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().double().numpy()  # type: ignore[attr-defined]


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _unsupported_option(path: str, what: str, hint: str) -> Exception:
    return error("SNC102", f"`{path}`: {what}", origin=path, hint=hint)


@register_converter(nn.Conv2d)
def conv2d(ctx: ConvertContext, m: nn.Conv2d, path: str, inputs: list[str]) -> str:
    if m.padding_mode != "zeros":
        raise _unsupported_option(path, f"padding_mode={m.padding_mode!r}", "use padding_mode='zeros'")
    padding = m.padding
    if isinstance(padding, str):
        padding = _string_padding(m, path, padding)
    return ctx.add(ir.Conv2d, inputs, path, weight=_np(m.weight), bias=_np(m.bias), stride=_pair(m.stride),
                   padding=_pair(padding), dilation=_pair(m.dilation), groups=m.groups)


def _string_padding(m: nn.Conv2d, path: str, padding: str) -> tuple[int, int]:
    if padding == "valid":
        return (0, 0)
    total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size, strict=False)]
    if any(t % 2 for t in total):
        raise _unsupported_option(path, "padding='same' needs asymmetric padding for this kernel",
                                  "use an odd kernel or explicit integer padding")
    return (total[0] // 2, total[1] // 2)


@register_converter(nn.Linear)
def linear(ctx: ConvertContext, m: nn.Linear, path: str, inputs: list[str]) -> str:
    return ctx.add(ir.Dense, inputs, path, weight=_np(m.weight), bias=_np(m.bias))


@register_converter(nn.modules.batchnorm._BatchNorm)
def batchnorm(ctx: ConvertContext, m: nn.modules.batchnorm._BatchNorm, path: str, inputs: list[str]) -> str:
    if m.running_mean is None or m.running_var is None:
        raise _unsupported_option(path, "BatchNorm without running statistics normalizes with batch "
                                  "statistics at inference, which no static network can reproduce",
                                  "train with track_running_stats=True")
    c = m.num_features
    weight = _np(m.weight) if m.affine else np.ones(c)
    bias = _np(m.bias) if m.affine else np.zeros(c)
    return ctx.add(ir.BatchNorm, inputs, path, mean=_np(m.running_mean), var=_np(m.running_var),
                   weight=weight, bias=bias, eps=float(m.eps), scale=1.0, eps_inside=True)


@register_converter(nn.AvgPool2d)
def avgpool(ctx: ConvertContext, m: nn.AvgPool2d, path: str, inputs: list[str]) -> str:
    padding = _pair(m.padding)
    if m.ceil_mode:
        raise _unsupported_option(path, "ceil_mode=True", "use ceil_mode=False (pad explicitly if needed)")
    if m.divisor_override is not None:
        raise _unsupported_option(path, "divisor_override", "use plain average pooling")
    if not m.count_include_pad and any(padding):
        raise _unsupported_option(path, "count_include_pad=False with padding divides border windows "
                                  "by a varying count", "use count_include_pad=True or no padding")
    kernel = _pair(m.kernel_size)
    stride = kernel if m.stride is None else _pair(m.stride)
    return ctx.add(ir.Pool2d, inputs, path, mode="avg", kernel=kernel, stride=stride, padding=padding)


@register_converter(nn.AdaptiveAvgPool2d)
def adaptive_avgpool(ctx: ConvertContext, m: nn.AdaptiveAvgPool2d, path: str, inputs: list[str]) -> str:
    _, h, w = ctx.shape(inputs[0])
    out = m.output_size if isinstance(m.output_size, tuple) else (m.output_size, m.output_size)
    oh, ow = (h if out[0] is None else out[0]), (w if out[1] is None else out[1])
    if h % oh or w % ow:
        raise _unsupported_option(path, f"adaptive pooling of {h}x{w} to {oh}x{ow} uses uneven windows",
                                  "choose an output size that divides the input size")
    kernel = (h // oh, w // ow)
    return ctx.add(ir.Pool2d, inputs, path, mode="avg", kernel=kernel, stride=kernel, padding=(0, 0))


@register_converter(nn.MaxPool2d)
def maxpool(ctx: ConvertContext, m: nn.MaxPool2d, path: str, inputs: list[str]) -> str:
    if m.ceil_mode or m.return_indices:
        raise _unsupported_option(path, "ceil_mode / return_indices", "use the defaults")
    kernel = _pair(m.kernel_size)
    stride = kernel if m.stride is None else _pair(m.stride)
    return ctx.add(ir.MaxPool2d, inputs, path, kernel=kernel, stride=stride, padding=_pair(m.padding),
                   dilation=_pair(m.dilation))


@register_converter(nn.Flatten)
def flatten(ctx: ConvertContext, m: nn.Flatten, path: str, inputs: list[str]) -> str:
    return flatten_from(ctx, path, inputs, m.start_dim, m.end_dim)


def flatten_from(ctx: ConvertContext, path: str, inputs: list[str], start: int, end: int) -> str:
    """Flatten of all feature axes; any other range would mix time, batch and features."""
    rank = ctx.batch_dims + len(ctx.shape(inputs[0]))
    start, end = start % rank, end % rank
    if start != ctx.batch_dims or end != rank - 1:
        axes = "[T, B, ...]" if ctx.batch_dims == 2 else "[T·B, ...] (inside TimeDistributed)"
        raise _unsupported_option(path, f"flatten of axes {start}..{end} of a {axes} tensor",
                                  f"flatten all feature axes: start_dim={ctx.batch_dims}, end_dim=-1")
    return ctx.add(ir.Flatten, inputs, path)


@register_converter(nn.Identity)
def identity(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    return ctx.add(ir.Identity, inputs, path, reason="identity")


@register_converter(nn.modules.dropout._DropoutNd)
def dropout(ctx: ConvertContext, m: nn.Module, path: str, inputs: list[str]) -> str:
    return ctx.add(ir.Identity, inputs, path, reason="dropout")


@register_converter(nn.Sequential)
def sequential(ctx: ConvertContext, m: nn.Sequential, path: str, inputs: list[str]) -> str | tuple[str | None, ...]:
    """Only reached inside TimeDistributed; at the top level the tracer walks Sequential itself."""
    current: list[Any] = inputs  # a multi-output child leaves its tuple of names here, as nn.Sequential would
    for child_name, child in m.named_children():
        current = [ctx.convert(child, f"{path}.{child_name}" if path else child_name, current)]
    return current[0]


def _register_torch_families() -> None:
    """torch's own dropout and BatchNorm classes each define forward() (or inherit the family base's): they
    are registered one by one, so that only *user* subclasses that override forward() are refused."""
    for family, fn in ((nn.modules.dropout._DropoutNd, dropout), (nn.modules.batchnorm._BatchNorm, batchnorm)):
        for value in vars(sys.modules[family.__module__]).values():
            if isinstance(value, type) and issubclass(value, family) and value.__module__.startswith("torch."):
                register_converter(value, fn)


_register_torch_families()
