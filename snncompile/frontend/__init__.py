"""Frontends: load checkpoints safely and trace PyTorch SNNs into the IR."""

from snncompile.frontend.pytorch.converters import ConvertContext, register_converter
from snncompile.frontend.pytorch.tracer import trace

__all__ = ["ConvertContext", "register_converter", "trace"]
