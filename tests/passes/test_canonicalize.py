"""canonicalize: golden before/after text for each rewrite rule (C1..C6), and unchanged simulation results."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from snncompile import ir
from snncompile import nn as snn
from snncompile.frontend import trace
from snncompile.passes import Canonicalize, Pipeline
from snncompile.sim import simulate


def dense(name: str, src: str | ir.Edge, n_out: int = 3, n_in: int = 3, seed: int = 0) -> ir.Dense:
    rng = np.random.default_rng(seed)
    return ir.Dense(name, (src,), f"model.{name}", weight=rng.normal(size=(n_out, n_in)), bias=rng.normal(size=n_out))


def lif(name: str, *srcs: str | ir.Edge, n: int = 3) -> ir.LIF:
    return ir.LIF(name, tuple(srcs), f"model.{name}", decay=np.full(n, 0.5), threshold=np.full((1, n), 0.3))


def readout(src: str | ir.Edge, n_in: int = 3) -> ir.Readout:
    return ir.Readout("head", (src,), "model.head", weight=np.ones((2, n_in)), bias=np.zeros(2))


def inp(shape: tuple[int, ...] = (3,), name: str = "input") -> ir.Input:
    return ir.Input(name, (), name, shape=shape)


def c1_identity() -> ir.Graph:
    """Dropout and identity nodes disappear; delays of bypassed edges add up; an output identity is replaced
    by its input in the output list."""
    return ir.Graph((
        inp(), dense("fc", "input"),
        ir.Identity("drop", ("fc",), "model.drop", reason="dropout"),
        lif("lif", "drop"),
        ir.Identity("id", (ir.Edge("lif", 2),), "model.id"),
        readout(ir.Edge("id", 1)),
        ir.Identity("tap", ("lif",), "model.tap"),
    ), ("head", "tap"), {"timesteps": 6})


def output_identity_behind_delay() -> ir.Graph:
    return ir.Graph((
        inp(), dense("fc", "input"), lif("lif", "fc"), readout("lif"),
        ir.Identity("tap", (ir.Edge("lif", 1),), "model.tap"),
    ), ("head", "tap"))


def c2_flatten() -> ir.Graph:
    """flatten(flatten(x)) keeps one flatten; a flatten of a rank-1 value disappears."""
    return ir.Graph((
        inp((2, 3, 3)),
        ir.Flatten("flat1", ("input",), "model.flat1"),
        ir.Flatten("flat2", ("flat1",), "model.flat2"),
        dense("fc", "flat2", n_in=18),
        lif("lif", "fc"),
        ir.Flatten("flat3", ("lif",), "model.flat3"),
        readout("flat3"),
    ), ("head",))


def c3_single_add() -> ir.Graph:
    """Single-operand adds disappear, keeping the delay of their edge."""
    return ir.Graph((
        inp(), dense("fc", "input"),
        ir.Add("add1", ("fc",), "model.add1"),
        lif("lif", "add1"),
        ir.Add("add2", (ir.Edge("lif", 1),), "model.add2"),
        readout("add2"),
    ), ("head",))


def c4_add_chains() -> ir.Graph:
    """((a + b) + c) + d merges into one add; the chains that must stay are: inner add as a later operand
    (summation order), inner add used twice, delayed inner edge, inner add that is a graph output."""
    return ir.Graph((
        inp(), *(dense(n, "input", seed=i) for i, n in enumerate("abcd")),
        ir.Add("s1", ("a", "b"), "model.s1"), ir.Add("s2", ("s1", "c"), "model.s2"),
        ir.Add("s3", ("s2", "d"), "model.s3"), lif("chain", "s3"),
        ir.Add("t1", ("a", "b"), "model.t1"), ir.Add("t2", ("c", "t1"), "model.t2"), lif("later", "t2"),
        ir.Add("u1", ("a", "b"), "model.u1"), ir.Add("u2", ("u1", "c"), "model.u2"),
        ir.Add("u3", ("u1", "d"), "model.u3"), lif("shared", "u2", "u3"),
        ir.Add("v1", ("a", "b"), "model.v1"), ir.Add("v2", (ir.Edge("v1", 1), "c"), "model.v2"),
        lif("delayed", "v2"),
        ir.Add("w1", ("a", "b"), "model.w1"), ir.Add("w2", ("w1", "c"), "model.w2"), lif("output", "w2"),
    ), ("chain", "later", "shared", "delayed", "output", "w1"))


def c5_unit_pools() -> ir.Graph:
    """1x1 pools with stride 1 and no padding disappear; strided or larger windows stay."""
    shape = (2, 4, 4)
    return ir.Graph((
        inp(shape),
        ir.Pool2d("avg1", ("input",), "model.avg1", mode="avg", kernel=(1, 1), stride=(1, 1)),
        ir.MaxPool2d("max1", ("avg1",), "model.max1", kernel=(1, 1), stride=(1, 1), dilation=(2, 2)),
        ir.Pool2d("sum1", ("max1",), "model.sum1", mode="sum", kernel=(1, 1), stride=(1, 1)),
        ir.LIF("lif", ("sum1",), "model.lif", decay=np.full(shape, 0.5), threshold=np.full((1, *shape), 0.3)),
        ir.Pool2d("strided", ("lif",), "model.strided", kernel=(1, 1), stride=(2, 2)),
        ir.MaxPool2d("window", ("strided",), "model.window", kernel=(2, 2), stride=(1, 1)),
        ir.Flatten("flat", ("window",), "model.flat"),
        readout("flat", n_in=2),
    ), ("head",))


def c6_dead_nodes() -> ir.Graph:
    """Nodes no output depends on are removed; every input stays, used or not."""
    return ir.Graph((
        inp(), inp((5,), "unused"),
        dense("fc", "input"), lif("lif", "fc"),
        dense("dead_fc", "lif"), lif("dead_lif", "dead_fc"),
        dense("dead_from_unused", "unused", n_in=5),
        readout("lif"),
    ), ("head",))


CASES: dict[str, Callable[[], ir.Graph]] = {
    "C1": c1_identity, "C2": c2_flatten, "C3": c3_single_add, "C4": c4_add_chains, "C5": c5_unit_pools,
    "C6": c6_dead_nodes,
}


def canonicalize(graph: ir.Graph) -> tuple[ir.Graph, tuple[str, ...]]:
    after, records = Pipeline((Canonicalize(),)).run(graph)
    return after, records[0].notes


def render(name: str, graph: ir.Graph) -> str:
    after, notes = canonicalize(graph)
    doc = " ".join((CASES[name].__doc__ or "").split())
    return "\n".join([f"# canonicalize {name}: {doc}", "# before", ir.print_graph(graph), "# after",
                      ir.print_graph(after), "# notes", *notes])


def inputs_for(graph: ir.Graph, seed: int = 0, timesteps: int = 6, batch: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n.name: rng.normal(size=(timesteps, batch, *n.shape)) for n in graph.of_kind(ir.Input)}  # type: ignore[attr-defined]


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_golden(rule: str, golden: Callable[[str, str], None]) -> None:
    golden(f"canonicalize_{rule}.txt", render(rule, CASES[rule]()))


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_preserves_simulation(rule: str) -> None:
    before = CASES[rule]()
    after, notes = canonicalize(before)
    assert notes and all(n.startswith(rule) for n in notes), notes
    assert len(after) < len(before)
    for seed in range(3):
        x = inputs_for(before, seed)
        a, b = simulate(before, x), simulate(after, x)
        for out_a, out_b in zip(before.outputs, after.outputs, strict=True):
            assert np.array_equal(a[out_a], b[out_b]), (out_a, out_b)
        for node in after.nodes:
            if node.name in before:
                assert np.array_equal(a[node.name], b[node.name]), node.name


@pytest.mark.parametrize("rule", sorted(CASES))
def test_idempotent_and_keeps_untouched_nodes(rule: str) -> None:
    before = CASES[rule]()
    once, _ = canonicalize(before)
    twice, notes = canonicalize(once)
    assert notes == () and ir.print_graph(twice) == ir.print_graph(once)
    assert all(twice.node(n.name) is n for n in once.nodes)
    for node in once.nodes:  # nodes whose inputs did not change are the very same objects
        original = before.node(node.name)
        if original.inputs == node.inputs:
            assert node is original


def test_c1_keeps_an_output_identity_behind_a_delay() -> None:
    """An output cannot carry a delay, so identity(lif@1) as an output must stay."""
    graph = output_identity_behind_delay()
    after, _ = canonicalize(graph)
    assert after.outputs == ("head", "tap") and after.node("tap").inputs == (ir.Edge("lif", 1),)
    x = inputs_for(graph)
    assert np.array_equal(simulate(graph, x)["tap"], simulate(after, x)["tap"])


def test_c1_notes_only_what_it_dropped() -> None:
    _, notes = canonicalize(output_identity_behind_delay())
    assert notes == ()


def test_c4_keeps_left_to_right_summation_order() -> None:
    """(a + b) + c in floating point: merged adds sum in the same order, so results are bit-identical
    even for values where reassociation would round differently."""
    graph = ir.Graph((
        inp((1,), "a"), inp((1,), "b"), inp((1,), "c"),
        ir.Add("s1", ("a", "b")), ir.Add("s2", ("s1", "c")),
    ), ("s2",))
    after, _ = canonicalize(graph)
    assert [e.src for e in after.node("s2").inputs] == ["a", "b", "c"]
    x = {"a": np.full((1, 1, 1), 1e16), "b": np.full((1, 1, 1), -1e16), "c": np.full((1, 1, 1), 1.0)}
    assert simulate(after, x).output.item() == 1.0  # (1e16 − 1e16) + 1; a + (b + c) would give 0
    assert np.array_equal(simulate(graph, x).output, simulate(after, x).output)


def test_traced_model_canonicalizes_to_the_same_function() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        snn.TimeDistributed(nn.Conv2d(1, 3, 3, 1, 1), nn.Dropout(0.2), nn.Identity(), nn.MaxPool2d(1),
                            nn.AvgPool2d(1), nn.Flatten()),
        nn.Flatten(2), nn.Dropout(0.1), nn.Linear(48, 6), snn.LIF(), snn.Readout(6, 2)).double()
    graph = trace(model, input_shape=(1, 4, 4), timesteps=5)
    after, notes = canonicalize(graph)
    assert [n.kind for n in after.nodes] == ["input", "conv2d", "flatten", "dense", "lif", "readout"]
    assert [n.split()[0] for n in notes] == ["C1", "C1", "C5", "C5", "C2", "C1"]
    x = torch.randn(5, 3, 1, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        want = model(x).numpy()
    assert np.array_equal(simulate(after, x).output, simulate(graph, x).output)
    assert np.allclose(simulate(after, x).output, want, rtol=0, atol=1e-12)
