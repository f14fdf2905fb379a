"""Compilation targets; importing this package registers the built-in ones."""

from snncompile.targets import loihi, nir_target, onnx_fixed_target, onnx_target, sim  # noqa: F401  (registers)
from snncompile.targets.base import TARGETS, Capabilities, Target, register_target

__all__ = ["TARGETS", "Capabilities", "Target", "register_target"]
