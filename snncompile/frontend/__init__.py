"""Frontends: load checkpoints safely and trace PyTorch SNNs into the IR."""

from snncompile.frontend.converters import ConvertContext, register_converter
from snncompile.frontend.tracer import trace

__all__ = ["ConvertContext", "register_converter", "trace"]
