"""The standard pass pipelines, spelled out in order."""

from __future__ import annotations

from snncompile.passes.base import Pass
from snncompile.passes.canonicalize import Canonicalize
from snncompile.passes.fold_norm import FoldNorm
from snncompile.passes.manager import Pipeline


def float_passes() -> tuple[Pass, ...]:
    """Target-independent float passes, in order: canonicalize (→ fold-norm → lower-mlf →
    lower-residual → legalize-threshold as they land)."""
    return (Canonicalize(), FoldNorm())


def float_pipeline() -> Pipeline:
    return Pipeline(float_passes())
