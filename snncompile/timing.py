"""Wall time of a run's phases (load, trace, each pass, check, emit), summing to the total: --time-passes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Phase:
    """One row: what ran (`kind`: phase, pass, or other), and its wall time."""

    name: str
    seconds: float
    kind: str = "phase"


@dataclass
class Timings:
    """Phases in the order they ran, from `started` (a time.perf_counter() value)."""

    started: float = field(default_factory=time.perf_counter)
    phases: list[Phase] = field(default_factory=list)

    def add(self, name: str, seconds: float, kind: str = "phase") -> None:
        self.phases.append(Phase(name, seconds, kind))

    @contextmanager
    def phase(self, name: str, kind: str = "phase") -> Iterator[None]:
        """Time the block as a row (also when it raises: a failed phase took its time too)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start, kind)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def rows(self, total: float | None = None) -> list[Phase]:
        """The phases and an explicit `other` row (time between them), which sum to `total` (default: now)."""
        total = self.elapsed() if total is None else total
        other = total - sum(p.seconds for p in self.phases)
        return [*self.phases, Phase("other", max(other, 0.0), "other")]

    def to_json(self, total: float | None = None) -> dict[str, Any]:
        total = self.elapsed() if total is None else total
        return {"rows": [{"name": p.name, "kind": p.kind, "seconds": p.seconds} for p in self.rows(total)],
                "total": total}

    def table(self, total: float | None = None) -> list[str]:
        """Text rows: milliseconds, share of the total, name; then the total."""
        total = self.elapsed() if total is None else total
        lines = [f"{'ms':>10s} {'share':>6s}  phase"]
        for p in self.rows(total):
            share = 100 * p.seconds / total if total > 0 else 0.0
            lines.append(f"{p.seconds * 1e3:10.2f} {share:5.1f}%  {'pass ' if p.kind == 'pass' else ''}{p.name}")
        lines.append(f"{total * 1e3:10.2f} {100.0:5.1f}%  total")
        return lines
