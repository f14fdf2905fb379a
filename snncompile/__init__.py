"""snncompile: compile trained deep SNNs (tdBN, MPBN, PSP-norm, MLF, S2NN) exactly for neuromorphic targets."""

from snncompile.api import CompileResult, compile, load
from snncompile.errors import CompileError, Diagnostic, InternalError
from snncompile.frontend import register_converter, trace
from snncompile.passes import Pipeline
from snncompile.sim import simulate
from snncompile.verification import verify
from snncompile.version import __version__

__all__ = [
    "CompileError", "CompileResult", "Diagnostic", "InternalError", "Pipeline", "__version__", "compile",
    "load", "register_converter", "simulate", "trace", "verify",
]
