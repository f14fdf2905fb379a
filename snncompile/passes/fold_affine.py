"""Per-channel affine maps y = a·(x − m) + β read from BatchNorm / PSPNorm nodes, and fold failures."""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch

import numpy as np

from snncompile import ir

NOT_FOLDABLE, PADDED_CONV, SOFT_RESET, NOT_FINITE, NOT_POSITIVE = (
    "SNC500", "SNC501", "SNC502", "SNC503", "SNC504")

HINTS: dict[str, str] = {
    NOT_FOLDABLE: "fold-norm folds a norm into the conv/dense that produces its input (through adds, "
                  "identities and pools), or into the conv/dense/readout/LIF that consume it; an offset "
                  "needs a zero-delay conv/dense/readout to hold it. Put the norm next to a linear layer, "
                  "or keep it on the host",
    PADDED_CONV: "a zero-padded conv would see the normalized value of a raw zero (β − a·μ) in its padding "
                 "instead of 0 (docs FOLDING.md section 10): keep this norm on the host, remove the "
                 "conv's padding, or use a norm without offset (PSP-norm without bias folds exactly)",
    SOFT_RESET: "MPBN's soft reset subtracts one raw membrane unit, a subtract-reset LIF subtracts its "
                "threshold θ' (docs FOLDING.md section 3): train the MPBN layer with hard reset "
                "(reset='zero'), or keep it unfolded",
    NOT_FINITE: "check the checkpoint's running statistics: a zero variance with eps = 0, or a |γ| so "
                "small that the folded value overflows float64",
    NOT_POSITIVE: "the float graph is still exact, but targets with unsigned thresholds (Loihi) reject "
                  "these neurons: they fire on zero input or are pinned always-on",
}


class NotFoldable(Exception):
    """A fold target cannot absorb an affine exactly. `code` names the trap (SNC500 when generic)."""

    def __init__(self, reason: str, code: str = NOT_FOLDABLE) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


@dataclass(frozen=True)
class Affine:
    """Per-channel y = scale·(x − shift) + offset, i.e. y = a·x + b with a = scale, b = offset − scale·shift.

    Kept in the (a, m, β) form so a bias folds as a·(bias − μ) + β (section 2 of docs FOLDING.md),
    which avoids cancelling a·bias against a·μ.
    """

    scale: np.ndarray
    shift: np.ndarray
    offset: np.ndarray

    @property
    def bias(self) -> np.ndarray:
        """b of y = a·x + b."""
        return self.offset - self.scale * self.shift

    @property
    def has_offset(self) -> bool:
        return bool(np.any(self.bias != 0))

    def without_offset(self) -> Affine:
        zero = np.zeros_like(self.scale)
        return Affine(self.scale, zero, zero)

    def fold_bias(self, bias: np.ndarray | None) -> np.ndarray | None:
        """The bias of a producer after folding: a·(bias − m) + β, or None when there is none to hold."""
        if bias is None:
            return self.bias if self.has_offset else None
        return self.scale * (bias - self.shift) + self.offset

    def per_sum_term(self, terms: int) -> Affine:
        """The affine to apply to each of `terms` summed values so that the sum gets this one (sum pooling)."""
        return Affine(self.scale, self.shift / terms, self.offset / terms)


def scale_only(scale: np.ndarray) -> Affine:
    zero = np.zeros_like(scale, dtype=np.float64)
    return Affine(np.asarray(scale, dtype=np.float64), zero, zero)


@singledispatch
def describe(node: ir.Op) -> str:
    """Short description of a norm for notes: `batchnorm %bn (ε inside √(σ²+ε), scale 0.5)`."""
    return f"{node.kind} %{node.name}"


@describe.register(ir.BatchNorm)
def _describe_batchnorm(node: ir.BatchNorm) -> str:
    form = "√(σ²+ε)" if node.eps_inside else "√σ²+ε"
    return f"batchnorm %{node.name} (D = {form}, scale {node.scale:.6g})"


@describe.register(ir.PSPNorm)
def _describe_pspnorm(node: ir.PSPNorm) -> str:
    return f"pspnorm %{node.name} ({'with' if node.bias is not None else 'no'} bias)"


Channels = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""(D, a, m, β) per channel: the denominator and the affine y = a·(x − m) + β."""


@singledispatch
def channel_affine(node: ir.Op) -> Channels:
    """(D, a, m, β) of an AffineNorm op. A new affine normalization registers its own function here: with its
    op class (trait ir.traits.AffineNorm) that is all fold-norm needs (F1–F6 then apply)."""
    raise TypeError(f"{node.kind} has no per-channel affine registered in passes/fold_affine.py")


@channel_affine.register(ir.BatchNorm)
def _batchnorm_affine(node: ir.BatchNorm) -> Channels:
    """a = γ·scale / D (D in the node's own ε form), m = μ, β = bias."""
    denom = node.denominator()
    return denom, node.weight * node.scale / denom, node.mean, node.bias


@channel_affine.register(ir.PSPNorm)
def _pspnorm_affine(node: ir.PSPNorm) -> Channels:
    """a = γ / √(m2 + ε), m = 0, β = bias or 0."""
    denom = np.sqrt(node.moment2 + node.eps)
    scale = node.weight / denom
    return denom, scale, np.zeros_like(scale), node.bias if node.bias is not None else np.zeros_like(scale)


def affine_of(node: ir.Op) -> Affine:
    """The Affine of an AffineNorm op (channel_affine).
    Raises NotFoldable(SNC503) for a zero or non-finite denominator or a non-finite a."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        denom, scale, shift, offset = channel_affine(node)
    bad = ~(np.isfinite(denom) & (denom > 0) & np.isfinite(scale))
    if np.any(bad):
        c = int(np.argmax(bad))
        raise NotFoldable(f"{int(bad.sum())} channel(s) have no finite scale, e.g. channel {c}: "
                          f"D = {float(denom[c]):.6g}, a = {float(scale[c]):.6g}", NOT_FINITE)
    return Affine(np.asarray(scale), np.asarray(shift), np.asarray(offset))


def full(values: np.ndarray, shape: ir.Shape) -> np.ndarray:
    """A per-channel vector (or full-shape array) broadcast to a full sample shape, as a new array."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != tuple(shape):
        values = values.reshape((-1,) + (1,) * (len(shape) - 1))
    return np.array(np.broadcast_to(values, shape))


def per_channel(values: np.ndarray, what: str) -> np.ndarray:
    """The per-channel vector of a full (C, ...) array that is constant over each channel's positions."""
    flat = values.reshape(values.shape[0], -1)
    if np.any(flat != flat[:, :1]):
        raise NotFoldable(f"the {what} differs between positions of one channel; a shared kernel cannot "
                          "hold it")
    return flat[:, 0].copy()
