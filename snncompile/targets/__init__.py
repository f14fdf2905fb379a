"""Compilation targets: values with typed options (base), looked up by name in the registry."""

from snncompile.targets.base import Capabilities, NoOptions, Target
from snncompile.targets.registry import TARGETS, register_target, resolve_target, target_class, target_names

__all__ = ["TARGETS", "Capabilities", "NoOptions", "Target", "register_target", "resolve_target", "target_class",
           "target_names"]
