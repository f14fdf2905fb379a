"""Passes over the IR, the pipeline that runs them, and the registry of pass names."""

from snncompile.passes.base import PASS_REGISTRY, Pass, PassContext, Rule
from snncompile.passes.canonicalize import Canonicalize
from snncompile.passes.fold_norm import FoldNorm
from snncompile.passes.lower_mlf import LowerMLF
from snncompile.passes.lower_residual import LowerResidual
from snncompile.passes.manager import PassRecord, Pipeline

__all__ = ["PASS_REGISTRY", "Canonicalize", "FoldNorm", "LowerMLF", "LowerResidual", "Pass",
           "PassContext", "PassRecord", "Pipeline", "Rule"]
