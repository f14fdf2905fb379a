"""The standard pass pipelines, spelled out in order."""

from __future__ import annotations

from snncompile.passes.base import Pass
from snncompile.passes.canonicalize import Canonicalize
from snncompile.passes.fold_norm import FoldNorm
from snncompile.passes.lower_mlf import LowerMLF
from snncompile.passes.lower_residual import LowerResidual
from snncompile.passes.manager import Pipeline


def float_passes() -> tuple[Pass, ...]:
    """Target-independent float passes, in order. A target with one threshold per layer makes the
    per-neuron thresholds uniform itself (Loihi: loihi-quantize scales each neuron's rows by gain/θ)."""
    return (Canonicalize(), FoldNorm(), LowerMLF(), LowerResidual())


def float_pipeline() -> Pipeline:
    return Pipeline(float_passes())
