"""Targets as values: Capabilities (data), a typed options dataclass, a pass pipeline, rules and an emitter."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic
from snncompile.passes import Pipeline, Rule

Arithmetic = Literal["float", "loihi-fixed"]


@dataclass(frozen=True)
class Capabilities:
    """What a target runs and how: the CLI, verification and the resource report read these, never a name.

    arithmetic: "float" (the float IR) or "loihi-fixed" (Loihi's integer arithmetic: verification adds the
    bit-exact stage and calibrates on its data). runtime: the external runtime that verification cross-checks
    the written artifact in ("lava", "onnxruntime") or None. weight_bits: synapse memory per weight.
    """

    ops: frozenset[type[ir.Op]]
    per_neuron_thresholds: bool = True
    number_format: str = "float64"
    arithmetic: Arithmetic = "float"
    runtime: str | None = None
    weight_bits: int = 64
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoOptions:
    """The options of a target that has none."""


OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True)
class Target(Generic[OptionsT]):
    """A compilation target: a frozen value holding its typed options. Subclasses set the class attributes
    and provide `pipeline()`, `rules()` and `emit()`; `with_options` returns a reconfigured copy."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities]
    options_type: ClassVar[type[Any]] = NoOptions
    flag_prefix: ClassVar[str | None] = None
    """CLI flags `--<prefix>-<field>` are generated from options_type's fields (None: no flags)."""

    options: OptionsT = None  # type: ignore[assignment]  # None means options_type()

    def __post_init__(self) -> None:
        if self.options is None:
            object.__setattr__(self, "options", self.options_type())
        elif not isinstance(self.options, self.options_type):
            raise CompileError(Diagnostic(
                "SNC404", f"target {self.name} takes {self.options_type.__name__}, not {type(self.options).__name__}",
                hint=f"pass {self.options_type.__name__}(...) or a dict of its fields"))
        problems: list[Diagnostic] = getattr(self.options, "diagnostics", lambda: [])()  # the options' own checks
        if problems:
            raise CompileError(problems)

    def with_options(self, options: Mapping[str, Any] | Any | None = None, /, **values: Any) -> Target[OptionsT]:
        """A copy with options changed: an options_type instance, or field names and values (checked)."""
        if isinstance(options, self.options_type):
            base, changes = options, dict(values)
        else:
            base, changes = self.options, {**(options or {}), **values}
        return type(self)(replace_options(base, changes, self.name))

    def pipeline(self) -> Pipeline:
        raise NotImplementedError

    def rules(self) -> tuple[Rule, ...]:
        return ()

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        """Write the artifact into `directory` (a fresh temporary directory the caller renames)."""
        raise NotImplementedError

    @property
    def exact(self) -> bool:
        """Whether the compiled graph must reproduce the float model exactly (no quantization)."""
        return self.capabilities.arithmetic == "float"

    def for_verification(self, calibration: Any) -> Target[OptionsT]:
        """The target configured for verifying on data whose inputs are `calibration` (default: unchanged)."""
        return self


def option_names(options_type: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(options_type)]


def _coerce(value: Any, annotation: Any) -> Any:
    """Lists and sets given for a frozenset field become a frozenset (so options stay hashable values)."""
    if isinstance(value, (list, tuple, set)) and "frozenset" in str(annotation):
        return frozenset(value)
    return value


def replace_options(base: Any, changes: Mapping[str, Any], target: str) -> Any:
    """`base` with `changes` applied; unknown names are SNC404 listing the valid ones."""
    names = option_names(type(base))
    unknown = sorted(set(changes) - set(names))
    if unknown:
        raise CompileError([Diagnostic("SNC404", f"unknown option {u!r} for target {target}",
                                       hint=f"valid options: {', '.join(names)}") for u in unknown])
    hints = typing.get_type_hints(type(base))
    return dataclasses.replace(base, **{k: _coerce(v, hints.get(k)) for k, v in changes.items()})


def supported_ops_rule(capabilities: Capabilities, target: str) -> Rule:
    """Every node must be an op kind the target runs."""

    def check(graph: ir.Graph) -> list[Diagnostic]:
        return [Diagnostic("SNC410", f"`{n.kind}` is not supported by target {target}", node=n.name,
                           origin=n.origin or None, hint="see --list-targets for what each target runs")
                for n in graph.nodes if type(n) not in capabilities.ops]
    return Rule(f"{target}-supported-ops", check, "every op is supported by the target")
