"""The verifier: one negative test per diagnostic code, and every problem of a graph reported at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from snncompile import ir
from snncompile.errors import CompileError, Diagnostic


def inp(shape: tuple[int, ...] = (3,)) -> ir.Input:
    return ir.Input("input", (), "input", shape=shape)


def fc(name: str = "fc", src: str | ir.Edge = "input", n_in: int = 3, **kw: Any) -> ir.Dense:
    fields: dict[str, Any] = {"weight": np.ones((2, n_in)), "bias": np.zeros(2), **kw}
    return ir.Dense(name, (src,), f"model.{name}", **fields)


def lif(name: str = "lif", src: str | ir.Edge = "fc", n: int = 2, **kw: Any) -> ir.LIF:
    fields: dict[str, Any] = {"decay": np.full(n, 0.25), "threshold": np.full((1, n), 0.5), **kw}
    return ir.LIF(name, (src,), f"model.{name}", **fields)


def readout(src: str = "lif", **kw: Any) -> ir.Readout:
    fields: dict[str, Any] = {"weight": np.ones((4, 2)), "bias": np.zeros(4), **kw}
    return ir.Readout("readout", (src,), "model.head", **fields)


def graph(*nodes: ir.Op, outputs: tuple[str, ...] = ("readout",)) -> ir.Graph:
    return ir.Graph(nodes, outputs)


def codes(g: ir.Graph) -> list[str]:
    return [d.code for d in ir.verify(g)]


def only(g: ir.Graph, code: str) -> Diagnostic:
    diags = ir.verify(g)
    assert [d.code for d in diags] == [code], [d.render() for d in diags]
    return diags[0]


def test_valid_graphs_pass(kit: Any) -> None:
    assert ir.verify(graph(inp(), fc(), lif(), readout())) == []
    assert ir.verify(kit.all_ops()) == []
    ir.verify_or_raise(kit.all_ops())


def test_delayed_back_edge_is_not_a_cycle() -> None:
    recurrent = ir.LIF("lif", ("fc", ir.Edge("lif", 1)), decay=np.zeros(2), threshold=np.ones((1, 2)))
    assert ir.verify(graph(inp(), fc(), recurrent, readout())) == []


def test_snc201_duplicate_name() -> None:
    d = only(graph(inp(), fc(), fc(), lif(), readout()), "SNC201")
    assert d.node == "fc" and "%fc" in d.message


def test_snc202_unknown_input() -> None:
    d = only(graph(inp(), fc(), lif(src="ghost"), readout()), "SNC202")
    assert d.node == "lif" and "%ghost" in d.message and d.origin == "model.lif"


def test_snc203_cycle() -> None:
    a = ir.Add("a", ("input", "b"))
    b = ir.Identity("b", ("a",))
    diags = ir.verify(ir.Graph((inp(), a, b), ("b",)))
    assert [d.code for d in diags] == ["SNC203"] and diags[0].node == "a"
    assert "cycle" in diags[0].message


def test_snc203_zero_delay_self_loop() -> None:
    loop = ir.Add("a", ("input", "a"))
    assert codes(ir.Graph((inp(), loop), ("a",))) == ["SNC203"]


def test_snc203_out_of_order() -> None:
    d = only(graph(inp(), lif(), fc(), readout()), "SNC203")
    assert d.node == "lif" and d.hint and "with_nodes" in d.hint


def test_snc204_shape_mismatch() -> None:
    d = only(graph(inp(), fc(n_in=5), lif(), readout()), "SNC204")
    assert d.node == "fc" and "[2, 5]" in d.message  # downstream nodes are not reported again


def test_snc204_parameter_shape() -> None:
    assert codes(graph(inp(), fc(), lif(decay=np.arange(3.0)), readout())) == ["SNC204"]
    assert codes(graph(inp(), fc(), lif(threshold=np.arange(1.0, 4.0).reshape(1, 3)), readout())) == ["SNC204"]


def test_snc204_fan_in_shapes_differ() -> None:
    add = ir.Add("add", ("input", "fc"))
    assert codes(graph(inp((2,)), fc(n_in=2), add, outputs=("add",))) == []
    assert codes(graph(inp(), fc(), ir.Add("add", ("input", "fc")), outputs=("add",))) == ["SNC204"]


@pytest.mark.parametrize("bad", [
    ir.Identity("x", ("input", "input")),  # unary op with two inputs
    ir.Input("x", ("input",), shape=(3,)),  # an input with an input
    ir.Add("x", ()),  # fan-in op without inputs
    ir.LIF("x", (), decay=np.zeros(3), threshold=np.ones((1, 3))),
])
def test_snc204_arity(bad: ir.Op) -> None:
    d = only(ir.Graph((inp(), bad), ("x",)), "SNC204")
    assert d.node == "x" and "input" in d.message


def test_snc204_conv_stride_zero_is_reported_not_raised() -> None:
    conv = ir.Conv2d("x", ("input",), weight=np.ones((1, 1, 1, 1)), stride=(0, 1))
    pool = ir.Pool2d("y", ("input",), kernel=(2, 2), stride=(1, 0))
    diags = ir.verify(ir.Graph((inp((1, 4, 4)), conv, pool), ("x", "y")))
    assert [(d.code, d.node) for d in diags] == [("SNC204", "x"), ("SNC204", "y")]
    assert "stride" in diags[0].message


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(("name", "bad", "words"), [
    ("nan-weight", fc(weight=np.full((2, 3), NAN)), "non-finite"),
    ("inf-bias", fc(bias=np.array([0.0, -INF])), "non-finite"),
    ("dense-bias-shape", fc(bias=np.zeros(3)), "bias"),
])
def test_snc205_dense_parameters(name: str, bad: ir.Dense, words: str) -> None:
    d = only(graph(inp(), bad, lif(), readout()), "SNC205")
    assert d.node == "fc" and words in d.message and d.origin == "model.fc"


@pytest.mark.parametrize(("bad", "words"), [
    (lif(threshold=np.full((1, 2), NAN)), "non-finite"),
    (lif(gain=np.array([1.0, INF])), "non-finite"),
    (lif(comparison="<"), "comparison"),
    (lif(reset="soft"), "reset"),
    (lif(threshold=np.ones((0, 2))), "level"),
])
def test_snc205_neuron_parameters(bad: ir.LIF, words: str) -> None:
    d = only(graph(inp(), fc(), bad, readout()), "SNC205")
    assert d.node == "lif" and words in d.message


def mpbn(**kw: Any) -> ir.MPBNLIF:
    fields: dict[str, Any] = {"decay": np.full(2, 0.25), "mean": np.zeros(2), "var": np.ones(2),
                              "weight": np.ones(2), "bias": np.zeros(2), **kw}
    return ir.MPBNLIF("lif", ("fc",), "model.lif", **fields)


def bn(**kw: Any) -> ir.BatchNorm:
    fields: dict[str, Any] = {"mean": np.zeros(2), "var": np.ones(2), "weight": np.ones(2), "bias": np.zeros(2),
                              **kw}
    return ir.BatchNorm("lif", ("fc",), "model.bn", **fields)


@pytest.mark.parametrize(("bad", "words"), [
    (mpbn(var=np.array([1.0, -0.5])), "negative"),
    (mpbn(v_th=0.0), "v_th"),
    (mpbn(reset="none"), "reset"),
    (mpbn(mean=np.array([0.0, NAN])), "non-finite"),
    (bn(var=np.array([-1.0, 1.0])), "negative"),
    (bn(eps=-1e-5), "eps"),
    (ir.PSPNorm("lif", ("fc",), moment2=np.array([1.0, -1.0]), weight=np.ones(2)), "positive"),
    (ir.Pool2d("lif", ("fc",), mode="max"), "mode"),
])
def test_snc205_norm_and_pool_parameters(bad: ir.Op, words: str) -> None:
    g = graph(inp((3, 4, 4)) if isinstance(bad, ir.Pool2d) else inp(),
              ir.Identity("fc", ("input",)) if isinstance(bad, ir.Pool2d) else fc(), bad, outputs=("lif",))
    d = only(g, "SNC205")
    assert d.node == "lif" and words in d.message


def test_snc205_conv_parameters() -> None:
    conv = ir.Conv2d("c", ("input",), weight=np.ones((2, 1, 3, 3)), bias=np.zeros(3), padding=(-1, 0))
    diags = ir.verify(ir.Graph((inp((1, 6, 6)), conv), ("c",)))
    assert [d.code for d in diags] == ["SNC205", "SNC205"]
    assert "bias" in diags[0].message and "padding" in diags[1].message


def test_snc205_negative_delay() -> None:
    d = only(graph(inp(), fc(), lif(src=ir.Edge("fc", -1)), readout()), "SNC205")
    assert "negative delay" in d.message and d.node == "lif"


@pytest.mark.parametrize("bad", [bn(scale=NAN), bn(eps=INF), mpbn(fire_level=NAN), mpbn(v_th=INF)])
def test_snc205_non_finite_scalar_option(bad: ir.Op) -> None:
    d = only(graph(inp(), fc(), bad, outputs=("lif",)), "SNC205")
    assert "finite" in d.message


def test_snc205_readout_bias_shape() -> None:
    d = only(graph(inp(), fc(), lif(), readout(bias=np.zeros(2))), "SNC205")
    assert d.node == "readout" and "bias" in d.message


def test_snc206_no_outputs() -> None:
    d = only(graph(inp(), fc(), lif(), outputs=()), "SNC206")
    assert "no outputs" in d.message


def test_snc206_unknown_output() -> None:
    d = only(graph(inp(), fc(), lif(), outputs=("lif", "nope")), "SNC206")
    assert "%nope" in d.message


def test_snc206_no_input() -> None:
    const = ir.Identity("fc", ("lif",))
    loop_free = ir.LIF("lif", (ir.Edge("fc", 1),), decay=np.zeros(2), threshold=np.ones((1, 2)))
    diags = ir.verify(ir.Graph((loop_free, const), ("fc",)))
    assert [d.code for d in diags] == ["SNC206"] and "no input" in diags[0].message


def test_snc206_readout_with_consumers() -> None:
    consumer = ir.Identity("after", ("readout",))
    d = only(graph(inp(), fc(), lif(), readout(), consumer, outputs=("after",)), "SNC206")
    assert d.node == "readout"


def test_reports_every_problem_at_once() -> None:
    g = ir.Graph((
        inp(),
        fc(),
        fc(),  # SNC201
        fc("fc2", n_in=7),  # SNC204
        lif(src="ghost"),  # SNC202
        lif("lif2", src="lif3"),  # SNC203 (lif3 comes later)
        lif("lif3", comparison="=="),  # SNC205
        lif("lif4", src=ir.Edge("fc", -2)),  # SNC205
        readout("lif4"),
        ir.Identity("after", ("readout",)),  # SNC206 (readout with consumers)
    ), ("readout", "missing"))  # SNC206 (unknown output)
    diags = ir.verify(g)
    assert sorted(d.code for d in diags) == ["SNC201", "SNC202", "SNC203", "SNC204", "SNC205", "SNC205",
                                             "SNC206", "SNC206"]
    assert {d.node for d in diags} >= {"fc", "fc2", "lif", "lif2", "lif3", "lif4", "readout"}
    with pytest.raises(CompileError) as info:
        ir.verify_or_raise(g)
    assert len(info.value.diagnostics) == len(diags)
    text = str(info.value)
    assert "error[SNC201]" in text and "error[SNC206]" in text and "(from `model.fc2`)" in text


@pytest.mark.parametrize("bad", [
    ir.LIF("lif", ("fc",), "model.lif", threshold=np.ones((1, 2))),  # decay missing
    ir.Dense("lif", ("fc",), "model.lif"),  # weight missing
    ir.BatchNorm("lif", ("fc",), "model.lif", mean=np.zeros(2), var=np.ones(2), weight=np.ones(2)),  # bias
])
def test_snc205_missing_required_array_is_reported_not_raised(bad: ir.Op) -> None:
    diags = ir.verify(graph(inp(), fc(), bad, outputs=("lif",)))
    assert [(d.code, d.node) for d in diags] == [("SNC205", "lif")]
