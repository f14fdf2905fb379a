"""The pass pipeline: verification after each pass, crash wrapping with history and IR dump, rules, records."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar
from unittest import mock

import numpy as np
import pytest

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic, InternalError, error
from snncompile.passes import PASS_REGISTRY, Canonicalize, Pass, PassContext, Pipeline, Rule


def no_identity(graph: ir.Graph) -> list[Diagnostic]:
    return [Diagnostic("SNC900", f"identity %{n.name} present", node=n.name, origin=n.origin)
            for n in graph.of_kind(ir.Identity)]


NO_IDENTITY = Rule("no-identity", no_identity, "the graph has no identity nodes")


def make_passes() -> SimpleNamespace:
    """Test passes, defined while PASS_REGISTRY is patched so that they do not leak into other tests."""

    @dataclass(frozen=True)
    class Noop(Pass):
        name: ClassVar[str] = "test-noop"

        def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
            return graph

    @dataclass(frozen=True)
    class Retag(Pass):
        """Renames origins and says so."""
        name: ClassVar[str] = "test-retag"
        prefix: str = "net"

        def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
            ctx.note(f"retagged {len(graph)} nodes")
            ctx.stats["nodes"] = len(graph)
            return graph.with_nodes(n.replace(origin=f"{self.prefix}.{n.name}") for n in graph.nodes)

    @dataclass(frozen=True)
    class Break(Pass):
        name: ClassVar[str] = "test-break"

        def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
            lif = graph.node("lif")
            return graph.with_nodes([n for n in graph.nodes if n is not lif] + [lif.replace(inputs=("ghost",))])

    @dataclass(frozen=True)
    class Crash(Pass):
        name: ClassVar[str] = "test-crash"

        def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
            raise RuntimeError("kaput")

    @dataclass(frozen=True)
    class UserError(Pass):
        name: ClassVar[str] = "test-user-error"

        def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
            raise error("SNC205", "threshold out of range", node="lif")

    @dataclass(frozen=True)
    class NeedsNoIdentity(Pass):
        name: ClassVar[str] = "test-needs"
        requires: ClassVar[tuple[Rule, ...]] = (NO_IDENTITY,)
        calls: ClassVar[list[str]] = []

        def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
            self.calls.append("run")
            return graph

    @dataclass(frozen=True)
    class PromisesNoIdentity(Pass):
        name: ClassVar[str] = "test-promises"
        ensures: ClassVar[tuple[Rule, ...]] = (NO_IDENTITY,)

        def run(self, graph: ir.Graph, ctx: PassContext) -> ir.Graph:
            return graph

    return SimpleNamespace(noop=Noop(), retag=Retag(), retag_x=Retag("x"), brk=Break(), crash=Crash(),
                           user_error=UserError(), needs=NeedsNoIdentity(), promises=PromisesNoIdentity())


@pytest.fixture
def passes() -> Iterator[SimpleNamespace]:
    with mock.patch.dict(PASS_REGISTRY):
        yield make_passes()


@pytest.fixture
def graph() -> ir.Graph:
    return ir.Graph((
        ir.Input("input", (), shape=(3,)),
        ir.Dense("fc", ("input",), "model.fc", weight=np.ones((2, 3))),
        ir.Identity("drop", ("fc",), "model.drop", reason="dropout"),
        ir.LIF("lif", ("drop",), "model.lif", decay=np.zeros(2), threshold=np.ones((1, 2))),
    ), ("lif",), {"timesteps": 4})


def dump_of(exc: InternalError) -> Path:
    assert exc.ir_dump is not None
    path = Path(exc.ir_dump)
    assert path.is_dir()
    return path


def cleanup(exc: InternalError) -> None:
    if exc.ir_dump:
        shutil.rmtree(exc.ir_dump, ignore_errors=True)


def test_pass_returning_an_invalid_graph(graph: ir.Graph, passes: SimpleNamespace) -> None:
    with pytest.raises(InternalError) as info:
        Pipeline((Canonicalize(), passes.noop, passes.brk, passes.retag)).run(graph)
    exc = info.value
    try:
        text = str(exc)
        assert "pass test-break left an invalid graph" in text
        assert "SNC202" in text and "%ghost" in text
        assert "after the following passes: [canonicalize, test-noop]" in text
        dump = dump_of(exc)
        assert {p.name for p in dump.iterdir()} >= {"graph.json", "graph.npz", "graph.txt"}
        assert "%ghost" in (dump / "graph.txt").read_text()  # the dump shows the broken graph
    finally:
        cleanup(exc)


def test_verify_each_off_lets_an_invalid_graph_through(graph: ir.Graph, passes: SimpleNamespace) -> None:
    result, records = Pipeline((passes.brk,), verify_each=False).run(graph)
    assert ir.verify(result) and len(records) == 1


def test_pass_that_raises_is_wrapped(graph: ir.Graph, passes: SimpleNamespace) -> None:
    with pytest.raises(InternalError) as info:
        Pipeline((passes.noop, Canonicalize(), passes.crash, passes.noop)).run(graph)
    exc = info.value
    try:
        text = str(exc)
        assert "pass test-crash" in text and "RuntimeError: kaput" in text
        assert "after the following passes: [test-noop, canonicalize]" in text
        assert isinstance(exc.__cause__, RuntimeError)
        dump = dump_of(exc)
        assert f"IR dumped to: {dump}" in text
        assert "%drop" not in (dump / "graph.txt").read_text()  # the graph the crashing pass received
    finally:
        cleanup(exc)


def test_crash_message_says_crashed(graph: ir.Graph, passes: SimpleNamespace) -> None:
    with pytest.raises(InternalError) as info:
        Pipeline((passes.noop, passes.crash)).run(graph)
    cleanup(info.value)
    assert "pass test-crash crashed" in str(info.value)


def test_first_pass_crash_has_empty_history(graph: ir.Graph, passes: SimpleNamespace) -> None:
    with pytest.raises(InternalError) as info:
        Pipeline((passes.crash,)).run(graph)
    cleanup(info.value)
    assert "after the following passes: []" in str(info.value)


def test_compile_errors_from_a_pass_pass_through(graph: ir.Graph, passes: SimpleNamespace) -> None:
    with pytest.raises(CompileError) as info:
        Pipeline((passes.noop, passes.user_error)).run(graph)
    assert info.value.codes == ["SNC205"]


def test_requires_violation_is_a_compile_error(graph: ir.Graph, passes: SimpleNamespace) -> None:
    passes.needs.calls.clear()
    with pytest.raises(CompileError) as info:
        Pipeline((passes.noop, passes.needs)).run(graph)
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC300"
    assert "test-needs" in diag.message and "no-identity" in diag.message and "%drop" in diag.message
    assert diag.node == "drop" and diag.origin == "model.drop"
    assert passes.needs.calls == []  # the pass never ran


def test_requires_met_after_an_earlier_pass(graph: ir.Graph, passes: SimpleNamespace) -> None:
    passes.needs.calls.clear()
    result, records = Pipeline((Canonicalize(), passes.needs)).run(graph)
    assert passes.needs.calls == ["run"] and "drop" not in result
    assert [r.name for r in records] == ["canonicalize", "test-needs"]


def test_ensures_violation_is_an_internal_error(graph: ir.Graph, passes: SimpleNamespace) -> None:
    with pytest.raises(InternalError) as info:
        Pipeline((passes.noop, passes.promises)).run(graph)
    exc = info.value
    try:
        text = str(exc)
        assert "pass test-promises broke its postcondition" in text
        assert "identity %drop present" in text
        assert "after the following passes: [test-noop]" in text
    finally:
        cleanup(exc)
    Pipeline((Canonicalize(), passes.promises)).run(graph)  # holds once identities are gone


def test_records_hold_time_diff_notes_and_stats(graph: ir.Graph, passes: SimpleNamespace) -> None:
    seen: list[tuple[str, ir.Graph]] = []
    result, records = Pipeline((passes.noop, Canonicalize(), passes.retag_x)).run(
        graph, after_pass=lambda p, g: seen.append((p.name, g)))
    noop, canon, retag = records
    assert [r.name for r in records] == ["test-noop", "canonicalize", "test-retag{prefix=x}"]
    assert all(isinstance(r.seconds, float) and r.seconds >= 0 for r in records)
    assert not noop.changed and noop.diff == "" and noop.notes == ()
    assert canon.changed and canon.notes == ("C1 dropped dropout %drop",)
    assert "-  %drop = identity(%fc) {reason=dropout} : [2]  # model.drop" in canon.diff.splitlines()
    assert "+  %lif = lif(%fc) {comparison=>, reset=zero, decay:[1], threshold:[1,1]} : [2]  # model.lif" \
        in canon.diff.splitlines()
    assert retag.notes == ("retagged 3 nodes",) and retag.stats == {"nodes": 3}
    assert "# x.fc" in retag.diff
    assert retag.to_json() == {"pass": "test-retag{prefix=x}", "seconds": retag.seconds, "changed": True,
                               "overhead_seconds": retag.overhead, "notes": ["retagged 3 nodes"],
                               "stats": {"nodes": 3}}
    assert retag.overhead > 0  # the IR verification, printing and diff around the pass
    assert [name for name, _ in seen] == ["test-noop", "canonicalize", "test-retag"]
    assert seen[-1][1] is result and seen[0][1] is graph


def test_context_is_shared_and_notes_are_filed_per_pass(graph: ir.Graph, passes: SimpleNamespace) -> None:
    ctx = PassContext(options={"accept": True})
    _, records = Pipeline((passes.retag, passes.noop, passes.retag)).run(graph, ctx)
    assert [r.notes for r in records] == [("retagged 4 nodes",), (), ("retagged 4 nodes",)]
    assert ctx.notes == [] and ctx.options == {"accept": True}


def test_pipeline_names_and_specs(passes: SimpleNamespace) -> None:
    pipeline = Pipeline((Canonicalize(), passes.retag, passes.retag_x))
    assert pipeline.names == ["canonicalize", "test-retag{prefix=net}", "test-retag{prefix=x}"]
    assert PASS_REGISTRY["canonicalize"] is Canonicalize and "test-retag" in PASS_REGISTRY


def test_test_passes_do_not_leak_into_the_registry() -> None:
    ours = {"test-noop", "test-retag", "test-break", "test-crash", "test-user-error", "test-needs", "test-promises"}
    assert not ours & set(PASS_REGISTRY)


def test_pass_names_must_be_kebab_case() -> None:
    with mock.patch.dict(PASS_REGISTRY), pytest.raises(TypeError, match="kebab"):
        @dataclass(frozen=True)
        class Bad(Pass):
            name: ClassVar[str] = "Bad_Name"


def test_input_graph_is_not_changed(graph: ir.Graph, passes: SimpleNamespace) -> None:
    nodes = graph.nodes
    Pipeline((Canonicalize(), passes.retag)).run(graph)
    assert graph.nodes is nodes and all(a is b for a, b in zip(graph.nodes, nodes, strict=True))
    assert graph.node("drop").origin == "model.drop"
