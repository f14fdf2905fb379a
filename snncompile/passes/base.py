"""Pass, Rule and PassContext: the contracts every transformation and every check follows."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from snncompile.errors import Diagnostic
from snncompile.ir import Graph

_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Rule:
    """A named property of a graph. `check` returns every violation (empty list: the rule holds)."""

    name: str
    check: Callable[[Graph], list[Diagnostic]]
    description: str = ""

    def __call__(self, graph: Graph) -> list[Diagnostic]:
        return self.check(graph)


@dataclass
class PassContext:
    """What passes share during one pipeline run: user options, warnings, and per-pass notes.

    Passes call `note(...)` to say what they did (what was folded into what, copies made, largest
    parameter change); the pipeline files the notes under the running pass in its record.
    """

    options: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def note(self, message: str) -> None:
        self.notes.append(message)

    def warn(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def take_record(self) -> tuple[list[str], dict[str, Any]]:
        notes, stats = self.notes, self.stats
        self.notes, self.stats = [], {}
        return notes, stats


@dataclass(frozen=True)
class Pass:
    """A graph transformation. Subclasses are frozen dataclasses: their fields are the pass options.

    `name` is kebab-case; `requires` rules must hold before `run`, `ensures` rules after it.
    `run` returns a new Graph and must not mutate its input (nodes are frozen anyway).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    requires: ClassVar[tuple[Rule, ...]] = ()
    ensures: ClassVar[tuple[Rule, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            if not _KEBAB.match(cls.name):
                raise TypeError(f"pass name {cls.name!r} is not kebab-case")
            PASS_REGISTRY[cls.name] = cls

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        raise NotImplementedError

    @property
    def spec(self) -> str:
        """Name with options, e.g. `quantize{bits=8}`."""
        opts = ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))
        return f"{self.name}{{{opts}}}" if opts else self.name


PASS_REGISTRY: dict[str, type[Pass]] = {}
"""Every pass class by name (for --list-passes and pipelines given as text)."""
