"""Stateless IR ops: input, dense, conv, pooling, flatten, add, identity. They act on each timestep alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snncompile.ir.base import Op, Shape, ShapeError, bias_problems, expect_one_shape
from snncompile.ir.traits import PassThrough, Pooling, Synapse, WeightedSynapse

Pair = tuple[int, int]


@dataclass(frozen=True, eq=False)
class Input(Op):
    """Graph input: x[t] is supplied by the caller for t = 0..T-1 (spikes or direct-encoded currents)."""

    shape: Shape = ()
    kind: ClassVar[str] = "input"
    arity: ClassVar[int | None] = 0

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        return tuple(self.shape)


@dataclass(frozen=True, eq=False)
class Dense(Op, WeightedSynapse):
    """y[t] = W x[t] + b, W of shape [out, in]."""

    weight: np.ndarray = None  # type: ignore[assignment]
    bias: np.ndarray | None = None
    kind: ClassVar[str] = "dense"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        (n_in,) = expect_one_shape(self, in_shapes, rank=1)
        if self.weight.ndim != 2 or self.weight.shape[1] != n_in:
            raise ShapeError(f"weight {list(self.weight.shape)} does not take {n_in} inputs")
        return (self.weight.shape[0],)

    def check(self, in_shapes: list[Shape]) -> list[str]:
        problems = super().check(in_shapes) + bias_problems(self.weight, self.bias, "outputs")
        return problems


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a 1-D window sweep, as torch computes it (floor mode)."""
    if stride < 1 or dilation < 1:
        raise ShapeError(f"stride ({stride}) and dilation ({dilation}) must be >= 1")
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True, eq=False)
class Conv2d(Op, WeightedSynapse):
    """y[t] = conv2d(x[t], W, stride, padding (zeros), dilation, groups) + b[c]; W is [Co, Ci/g, kh, kw]
    and the operation is torch's cross-correlation."""

    weight: np.ndarray = None  # type: ignore[assignment]
    bias: np.ndarray | None = None
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    kind: ClassVar[str] = "conv2d"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        c, h, w = expect_one_shape(self, in_shapes, rank=3)
        co, ci_g, kh, kw = self.weight.shape
        if ci_g * self.groups != c or co % self.groups:
            raise ShapeError(f"weight {list(self.weight.shape)} with groups={self.groups} "
                             f"does not take {c} input channels")
        ho = conv_out(h, kh, self.stride[0], self.padding[0], self.dilation[0])
        wo = conv_out(w, kw, self.stride[1], self.padding[1], self.dilation[1])
        if ho < 1 or wo < 1:
            raise ShapeError(f"kernel does not fit the {h}x{w} input")
        return (co, ho, wo)

    def check(self, in_shapes: list[Shape]) -> list[str]:
        problems = super().check(in_shapes) + bias_problems(self.weight, self.bias, "channels")
        if min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0 or self.groups < 1:
            problems.append("stride, dilation and groups must be >= 1 and padding >= 0")
        return problems


def _pool_shape(op: Op, in_shapes: list[Shape], kernel: Pair, stride: Pair, padding: Pair,
                dilation: Pair = (1, 1)) -> Shape:
    c, h, w = expect_one_shape(op, in_shapes, rank=3)
    ho = conv_out(h, kernel[0], stride[0], padding[0], dilation[0])
    wo = conv_out(w, kernel[1], stride[1], padding[1], dilation[1])
    if ho < 1 or wo < 1:
        raise ShapeError(f"pooling window does not fit the {h}x{w} input")
    if 2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]:
        raise ShapeError("padding must be at most half the window")
    return (c, ho, wo)


@dataclass(frozen=True, eq=False)
class Pool2d(Op, Synapse, Pooling):
    """Average or sum pooling per channel, zero padding counted:
    sum: y[t] = Σ_window x[t];  avg: y[t] = Σ_window x[t] / (kh·kw)."""

    mode: str = "avg"
    kernel: Pair = (2, 2)
    stride: Pair = (2, 2)
    padding: Pair = (0, 0)
    kind: ClassVar[str] = "pool2d"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        return _pool_shape(self, in_shapes, self.kernel, self.stride, self.padding)

    def check(self, in_shapes: list[Shape]) -> list[str]:
        return [] if self.mode in ("avg", "sum") else [f"mode must be avg or sum, not {self.mode!r}"]


@dataclass(frozen=True, eq=False)
class MaxPool2d(Op, Pooling):
    """y[t] = max over the window of x[t] (padding never wins); for binary spikes this is an OR."""

    kernel: Pair = (2, 2)
    stride: Pair = (2, 2)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    kind: ClassVar[str] = "maxpool2d"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        return _pool_shape(self, in_shapes, self.kernel, self.stride, self.padding, self.dilation)


@dataclass(frozen=True, eq=False)
class Flatten(Op, PassThrough):
    """y[t] = x[t] reshaped to one axis in C-major (C, H, W) order."""

    kind: ClassVar[str] = "flatten"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        return (int(np.prod(shape)),)


@dataclass(frozen=True, eq=False)
class Add(Op):
    """y[t] = Σ_i x_i[t] (residual adds; currents or spike counts alike)."""

    kind: ClassVar[str] = "add"
    arity: ClassVar[int | None] = None

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        if any(s != in_shapes[0] for s in in_shapes):
            raise ShapeError("add operands differ in shape: " + " vs ".join(map(str, in_shapes)))
        return in_shapes[0]


@dataclass(frozen=True, eq=False)
class Identity(Op, PassThrough):
    """y[t] = x[t]. Kept from the frontend (nn.Identity, eval-mode dropout) until canonicalize drops it."""

    reason: str = "identity"
    kind: ClassVar[str] = "identity"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]
