"""Normalization ops kept explicit in the IR until fold-norm removes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

from snncompile.ir.base import Op, Shape, ShapeError, expect_one_shape
from snncompile.ir.traits import AffineNorm

Viewable = TypeVar("Viewable", np.ndarray, "torch.Tensor")


def channel_view(values: Viewable, rank: int) -> Viewable:
    """Per-channel vector shaped to broadcast over a (C, ...) sample of the given rank."""
    return values.reshape((-1,) + (1,) * (rank - 1))


class _PerChannel(Op):
    def _check_channels(self, in_shapes: list[Shape], fields: tuple[str, ...]) -> Shape:
        shape = expect_one_shape(self, in_shapes)
        if not shape:
            raise ShapeError(f"{self.kind} needs a channel axis")
        for name in fields:
            value = getattr(self, name)
            if value is not None and value.shape != (shape[0],):
                raise ShapeError(f"`{name}` has shape {list(value.shape)}, expected [{shape[0]}]")
        return shape


@dataclass(frozen=True, eq=False)
class BatchNorm(_PerChannel, AffineNorm):
    """Inference BN / tdBN on a current, per channel c (axis 0 of the sample):
    y = ((x − μ_c) / D_c) · (γ_c · scale) + β_c,  D_c = √(σ²_c + ε) if eps_inside else √σ²_c + ε.
    Plain BN has scale = 1; tdBN has scale = α·V_th."""

    mean: np.ndarray = None  # type: ignore[assignment]
    var: np.ndarray = None  # type: ignore[assignment]
    weight: np.ndarray = None  # type: ignore[assignment]
    bias: np.ndarray = None  # type: ignore[assignment]
    eps: float = 1e-5
    scale: float = 1.0
    eps_inside: bool = True
    kind: ClassVar[str] = "batchnorm"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        return self._check_channels(in_shapes, ("mean", "var", "weight", "bias"))

    def check(self, in_shapes: list[Shape]) -> list[str]:
        problems = super().check(in_shapes)
        if np.any(self.var < 0):
            problems.append("running variance has negative entries")
        if self.eps < 0:
            problems.append(f"eps must be >= 0, got {self.eps}")
        return problems

    def denominator(self) -> np.ndarray:
        return np.sqrt(self.var + self.eps) if self.eps_inside else np.sqrt(self.var) + self.eps


@dataclass(frozen=True, eq=False)
class PSPNorm(_PerChannel, AffineNorm):
    """PSP-norm, per channel c, no mean subtraction: y = x · (γ_c / √(m2_c + ε)) (+ β_c when present),
    m2 being the running second raw moment E[x²]."""

    moment2: np.ndarray = None  # type: ignore[assignment]
    weight: np.ndarray = None  # type: ignore[assignment]
    bias: np.ndarray | None = None
    eps: float = 1e-5
    kind: ClassVar[str] = "pspnorm"

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        return self._check_channels(in_shapes, ("moment2", "weight", "bias"))

    def check(self, in_shapes: list[Shape]) -> list[str]:
        problems = super().check(in_shapes)
        if np.any(self.moment2 + self.eps <= 0):
            problems.append("second moment + eps must be positive")
        return problems
