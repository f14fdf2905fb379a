"""Differential verification: PyTorch vs traced IR vs lowered IR vs the target's bit-exact simulation (and Lava)."""

from snncompile.verification.core import VerifyReport, verify

__all__ = ["VerifyReport", "verify"]
