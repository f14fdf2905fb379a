"""Targets: capabilities (data), a pass pipeline, rules, and an emitter; plus the target registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snncompile import ir
from snncompile.passes import Pipeline, Rule


@dataclass(frozen=True)
class Capabilities:
    """What a target can run: op kinds, parameter granularity and numeric formats."""

    ops: frozenset[type[ir.Op]]
    per_neuron_thresholds: bool = True
    number_format: str = "float64"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """A compilation target. Subclasses provide `pipeline()`, `rules()` and `emit()`."""

    name: str
    description: str
    capabilities: Capabilities
    options: dict[str, Any] = field(default_factory=dict)

    def pipeline(self) -> Pipeline:
        raise NotImplementedError

    def rules(self) -> tuple[Rule, ...]:
        return ()

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        """Write the artifact into `directory` (a fresh temporary directory the caller renames)."""
        raise NotImplementedError


TARGETS: dict[str, Target] = {}


def register_target(target: Target) -> Target:
    TARGETS[target.name] = target
    return target


def supported_ops_rule(capabilities: Capabilities, target: str) -> Rule:
    """Every node must be an op kind the target runs."""
    from snncompile.errors import Diagnostic

    def check(graph: ir.Graph) -> list[Diagnostic]:
        return [Diagnostic("SNC410", f"`{n.kind}` is not supported by target {target}", node=n.name,
                           origin=n.origin or None, hint="see --list-targets for what each target runs")
                for n in graph.nodes if type(n) not in capabilities.ops]
    return Rule(f"{target}-supported-ops", check, "every op is supported by the target")
