"""Compilation targets; importing this package registers the built-in ones."""

from snncompile.targets import sim  # noqa: F401  (registers the target)
from snncompile.targets.base import TARGETS, Capabilities, Target, register_target

__all__ = ["TARGETS", "Capabilities", "Target", "register_target"]
