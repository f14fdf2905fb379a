"""Differential verification: PyTorch vs traced IR vs lowered IR vs the target's bit-exact simulation (and Lava)."""

from __future__ import annotations

from typing import Any

__all__ = ["VerifyReport", "verify"]


def __getattr__(name: str) -> Any:
    # lazy: the compile check (verification.check) is imported by the CLI without the verify machinery
    if name in __all__:
        from snncompile.verification import core

        return getattr(core, name)
    raise AttributeError(name)
