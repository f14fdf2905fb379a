"""The Pipeline: runs passes in an explicit order, verifies after each, records time and diff."""

from __future__ import annotations

import difflib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from snncompile import progress
from snncompile.errors import CompileError, Diagnostic, InternalError
from snncompile.ir import Graph, print_graph, verify
from snncompile.ir import serialize as ir_serialize
from snncompile.passes.base import Pass, PassContext, Rule


@dataclass(frozen=True)
class PassRecord:
    """What one pass did: its spec, wall time, the IR text diff, its notes and statistics."""

    name: str
    seconds: float
    diff: str
    notes: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    overhead: float = 0.0
    """Wall time around the pass: its rules, IR verification, printing and diffing the IR."""

    @property
    def changed(self) -> bool:
        return bool(self.diff)

    def to_json(self) -> dict[str, Any]:
        return {"pass": self.name, "seconds": self.seconds, "overhead_seconds": self.overhead,
                "changed": self.changed, "notes": list(self.notes), "stats": self.stats}


@dataclass(frozen=True)
class Pipeline:
    """An explicit ordered tuple of passes. Verifies the IR after every pass (unless verify_each is
    off), checks each pass's requires/ensures rules, and wraps crashes as InternalError naming the
    passes that ran before."""

    passes: tuple[Pass, ...]
    verify_each: bool = True

    def run(self, graph: Graph, ctx: PassContext | None = None,
            after_pass: Callable[[Pass, Graph], None] | None = None) -> tuple[Graph, list[PassRecord]]:
        ctx = ctx or PassContext()
        records: list[PassRecord] = []
        for p in progress.track(self.passes, "passes", unit="passes", label=lambda p: f"pass {p.spec}"):
            begin = time.perf_counter()
            _check_rules(p, p.requires, graph, "SNC300", "requires")
            before = print_graph(graph)
            start = time.perf_counter()
            try:
                result = p.run(graph, ctx)
            except CompileError:
                raise
            except Exception as exc:
                raise _crash(p, records, graph, f"crashed: {type(exc).__name__}: {exc}") from exc
            seconds = time.perf_counter() - start
            if self.verify_each:
                problems = verify(result)
                if problems:
                    text = "\n".join(d.render() for d in problems)
                    raise _crash(p, records, result, f"left an invalid graph:\n{text}")
            _check_rules(p, p.ensures, result, "SNC301", "ensures", records=records)
            after = print_graph(result)
            diff = "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                  "before", "after", lineterm="", n=0))
            notes, stats = ctx.take_record()
            records.append(PassRecord(p.spec, seconds, diff, tuple(notes), stats,
                                      time.perf_counter() - begin - seconds))
            graph = result
            if after_pass is not None:
                after_pass(p, graph)
        return graph, records

    @property
    def names(self) -> list[str]:
        return [p.spec for p in self.passes]


def _check_rules(p: Pass, rules: Sequence[Rule], graph: Graph, code: str, which: str,
                 records: list[PassRecord] | None = None) -> None:
    problems: list[Diagnostic] = [d for rule in rules for d in rule(graph)]
    if not problems:
        return
    if which == "ensures":
        text = "\n".join(d.render() for d in problems)
        raise _crash(p, records or [], graph, f"broke its postcondition:\n{text}")
    raise CompileError(Diagnostic(code, f"pass {p.spec} {which} [{', '.join(r.name for r in rules)}]: "
                                  f"{d.message}", node=d.node, origin=d.origin, hint=d.hint)
                       for d in problems)


def _crash(p: Pass, records: list[PassRecord], graph: Graph, what: str) -> InternalError:
    history = ", ".join(r.name for r in records)
    dump = tempfile.mkdtemp(prefix="snncompile-ir-")
    try:
        ir_serialize.save(graph, dump)
        with open(f"{dump}/graph.txt", "w") as f:
            f.write(print_graph(graph))
    except Exception:  # a graph too broken to save still deserves the real error message
        dump = None  # type: ignore[assignment]
    return InternalError(f"pass {p.spec} {what}\n  after the following passes: [{history}]", dump)
