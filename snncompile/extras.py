"""Optional dependencies (pyproject extras): import one, or raise SNC420 naming the extra that installs it."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

EXTRAS: dict[str, str] = {
    "onnxruntime": "onnx",
    "ray": "ray",
    "tonic": "datasets",
}
"""Importable module -> the extra of `pip install 'snncompile[EXTRA]'` that provides it (pyproject.toml)."""


def install_hint(extra: str) -> str:
    return f"pip install 'snncompile[{extra}]'"


def available(module: str) -> bool:
    """Whether `module` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, *, feature: str, extra: str | None = None, package: str | None = None) -> ModuleType:
    """The imported `module`, or SNC420 saying that `feature` needs it and which extra installs it.

    `extra` defaults to EXTRAS[module]; for a module that no extra provides (a core dependency missing from a
    hand-made environment) the hint names its pip `package` (default: the module's name)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from snncompile.errors import error

        extra = extra or EXTRAS.get(module)
        how = install_hint(extra) if extra else f"pip install {package or module}"
        raise error("SNC420", f"{feature} needs the optional package {module!r}, which is not installed "
                    f"({type(exc).__name__}: {exc})", hint=how) from exc
