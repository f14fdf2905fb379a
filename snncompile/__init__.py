"""snncompile: compile trained deep SNNs (tdBN, MPBN, PSP-norm, MLF, S2NN) exactly for neuromorphic targets."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from snncompile.lazy import lazy_attributes
from snncompile.version import __version__

# Silent from Python unless the caller configures logging (the CLI installs its own handler): see docs/LOGGING.md.
logging.getLogger("snncompile").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from snncompile.api import CompileResult, compile, load
    from snncompile.errors import CompileError, Diagnostic, InternalError
    from snncompile.frontend import register_converter, trace
    from snncompile.passes import Pipeline
    from snncompile.sim import simulate
    from snncompile.verification import verify

# Imported on first use, so that the CLI can install its signal handlers before torch loads.
_LAZY = {
    "CompileError": "snncompile.errors", "Diagnostic": "snncompile.errors", "InternalError": "snncompile.errors",
    "CompileResult": "snncompile.api", "compile": "snncompile.api", "load": "snncompile.api",
    "register_converter": "snncompile.frontend", "trace": "snncompile.frontend", "Pipeline": "snncompile.passes",
    "simulate": "snncompile.sim", "verify": "snncompile.verification",
}

__all__ = [
    "CompileError", "CompileResult", "Diagnostic", "InternalError", "Pipeline", "__version__", "compile",
    "load", "register_converter", "simulate", "trace", "verify",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
