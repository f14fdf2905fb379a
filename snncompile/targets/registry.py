"""The target registry: name -> target class, imported on first use (so `import snncompile` loads no onnx)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from snncompile.errors import error
from snncompile.targets.base import Target

BUILTIN_TARGETS: dict[str, str] = {
    "sim": "snncompile.targets.sim.target:SimTarget",
    "loihi": "snncompile.targets.loihi.target:LoihiTarget",
    "nir": "snncompile.targets.nir.target:NirTarget",
    "onnx": "snncompile.targets.onnx.target:OnnxTarget",
    "onnx-loihi": "snncompile.targets.onnx.fixed_target:OnnxLoihiTarget",
}
"""A new target is one folder under targets/ and one line here (and one in BUILTIN_FLAGS if it has CLI flags)."""

BUILTIN_FLAGS: dict[str, tuple[str, str]] = {
    "loihi": ("loihi", "snncompile.targets.loihi.caps:LoihiOptions"),
    "nir": ("nir", "snncompile.targets.nir.legalize:NirOptions"),
    "onnx-loihi": ("loihi", "snncompile.targets.loihi.caps:LoihiOptions"),
}
"""Target name -> (its class's flag_prefix, its options_type), readable without importing the target (and torch):
the CLI builds its --loihi-* / --nir-* flags, and --help, from these. tests/targets/test_registry_flags.py checks
them against the classes."""

_PLUGINS: dict[str, type[Target[Any]]] = {}


def register_target(cls: type[Target[Any]]) -> type[Target[Any]]:
    """Add a target class from outside the package (call it when your module is imported, not later)."""
    _PLUGINS[cls.name] = cls
    return cls


def target_names() -> list[str]:
    return sorted({*BUILTIN_TARGETS, *_PLUGINS})


def target_class(name: str) -> type[Target[Any]]:
    """The class registered under `name` (SNC400 listing the known names when there is none)."""
    if name in _PLUGINS:
        return _PLUGINS[name]
    if name not in BUILTIN_TARGETS:
        raise error("SNC400", f"unknown target {name!r}", hint=f"available: {', '.join(target_names())}")
    module, cls = BUILTIN_TARGETS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def flag_options(name: str) -> tuple[str | None, type[Any]]:
    """(flag prefix, options dataclass) of target `name`, importing only the options' module for a built-in."""
    if name in BUILTIN_FLAGS and name not in _PLUGINS:
        prefix, path = BUILTIN_FLAGS[name]
        module, cls = path.split(":")
        return prefix, getattr(importlib.import_module(module), cls)
    if name in BUILTIN_TARGETS and name not in _PLUGINS:
        return None, type(None)
    target = target_class(name)
    return target.flag_prefix, target.options_type


def resolve_target(target: str | Target[Any], options: Mapping[str, Any] | Any | None = None) -> Target[Any]:
    """A target value from a name or a value, with `options` (a dict of option fields, or an options
    dataclass instance) applied on top of the value's own."""
    value = target_class(target)() if isinstance(target, str) else target
    return value if options is None else value.with_options(options)


class _TargetTable(Mapping[str, Target[Any]]):
    """Read-only view: name -> the target with default options (`"loihi" in TARGETS`, `TARGETS["sim"]`)."""

    def __getitem__(self, name: str) -> Target[Any]:
        if name not in BUILTIN_TARGETS and name not in _PLUGINS:
            raise KeyError(name)
        return target_class(name)()

    def __iter__(self) -> Iterator[str]:
        return iter(target_names())

    def __len__(self) -> int:
        return len(target_names())


TARGETS: Mapping[str, Target[Any]] = _TargetTable()
