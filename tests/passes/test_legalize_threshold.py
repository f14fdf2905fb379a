"""legalize-threshold: property tests (per-channel/per-neuron thresholds, every reset), wrong variants, errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.lowering import (
    FAMILIES,
    Census,
    census_fixture,
    check_case,
    mismatch_total,
    random_network,
    report,
    row_digest,
    run_passes,
    spike_input,
    threshold_digest,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.passes import LegalizeThreshold, LowerMLF, LowerResidual, PassContext, Pipeline, legalize_threshold
from snncompile.verification.compare import compare

CENSUS = Census("legalize-threshold")
_census = census_fixture(CENSUS)


def _lif(name: str, src: str, theta: np.ndarray, rng: np.random.Generator, reset: str) -> ir.LIF:
    return ir.LIF(name, (ir.Edge(src),), name, decay=rng.uniform(0, 0.9, theta.shape), threshold=theta[None],
                  reset=reset, comparison=str(rng.choice([">", ">="])))


def with_extras(graph: ir.Graph, rng: np.random.Generator, reset: str) -> ir.Graph:
    """Add the chains the generator lacks: a pool-fed population (L3), a conv shared by a population and a
    flatten that two rank-1 populations share (L4, L5); rank 1: a dense shared by two populations."""
    shapes = graph.shapes
    pops = [n.name for n in graph.of_kind(ir.LIF)]
    src = pops[int(rng.integers(len(pops)))]
    shape = shapes[src]
    if len(shape) == 1:
        w = rng.normal(0, 1.5 / np.sqrt(shape[0]), (5, shape[0]))
        extra = [ir.Dense("xd", (ir.Edge(src),), "xd", weight=w, bias=rng.normal(0, 0.2, 5)),
                 _lif("xa", "xd", rng.uniform(0.2, 1.0, 5), rng, reset),
                 _lif("xb", "xd", rng.uniform(0.2, 1.0, 5), rng, reset)]
        return graph.with_nodes([*graph.nodes, *extra], (*graph.outputs, "xa", "xb", "xd"))
    c, h, w_ = shape

    def per_channel() -> np.ndarray:
        return rng.uniform(0.2, 1.0, (c, 1, 1)) * np.ones((c, h // 2, w_ // 2))

    conv_w = rng.normal(0, 2.0 / np.sqrt(c), (c, c, 1, 1))
    flat = np.repeat(rng.uniform(0.2, 1.0, c), (h // 2) * (w_ // 2))
    extra = [ir.Pool2d("xp", (ir.Edge(src),), "xp", mode=str(rng.choice(["avg", "sum"]))),
             _lif("xpool", "xp", per_channel(), rng, reset),
             ir.Conv2d("xc", (ir.Edge("xp"),), "xc", weight=conv_w, bias=rng.normal(0, 0.2, c)),
             _lif("xconv", "xc", per_channel(), rng, reset),
             ir.Flatten("xf", (ir.Edge("xc", 1),), "xf"),
             _lif("xflat1", "xf", flat, rng, reset), _lif("xflat2", "xf", flat[::-1].copy(), rng, reset)]
    return graph.with_nodes([*graph.nodes, *extra], (*graph.outputs, "xpool", "xconv", "xflat1", "xflat2"))


def elementwise(graph: ir.Graph, rng: np.random.Generator) -> ir.Graph:
    """Per-neuron thresholds everywhere (only the gain fallback can legalize those under a conv)."""
    return graph.with_nodes(n.replace(threshold=n.threshold * rng.uniform(0.7, 1.4, n.threshold.shape))
                            if isinstance(n, ir.LIF) else n for n in graph.nodes)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), family=st.sampled_from(FAMILIES), rank=st.sampled_from([1, 3]),
       levels=st.integers(2, 4), reset=st.sampled_from(["zero", "subtract", "none"]),
       reference=st.one_of(st.none(), st.floats(0.2, 3.0)), gain=st.sampled_from([False, False, False, True]),
       steps=st.integers(20, 30), batch=st.integers(2, 4), kind=st.sampled_from(["spikes", "currents"]))
def test_legalize_threshold_keeps_every_spike(seed: int, family: str, rank: int, levels: int, reset: str,
                                              reference: float | None, gain: bool, steps: int, batch: int,
                                              kind: str) -> None:
    def case(s: int) -> tuple[ir.Graph, ir.Graph, np.ndarray]:
        rng = np.random.default_rng(s + 5)
        net, shape = random_network(s, family, rank=rank, levels=levels, reset=reset, input_kind=kind)
        before = with_extras(run_passes(net, LowerMLF(), LowerResidual()), rng, reset)
        if gain:
            before = elementwise(before, rng)
        after = run_passes(before, LegalizeThreshold(reference=reference, gain_fallback=gain))
        assert all(np.ptp(n.threshold) == 0 for n in after.of_kind(ir.LIF))
        if reference is not None:
            assert all(n.threshold.flat[0] == reference for n in after.of_kind(ir.LIF))
        return before, after, spike_input(shape, steps, batch, s, kind)

    check_case(case, seed, CENSUS)


# ---------------------------------------------------------------------------------------------------------
# Deliberately wrong variants, measured with the same harness


def _lowered(seed: int, mlf: bool) -> tuple[ir.Graph, tuple[int, ...]]:
    net, shape = random_network(seed, "ds", rank=3, levels=3, reset=str(np.random.default_rng(seed).choice(
        ["zero", "subtract"])))
    passes = (LowerMLF(), LowerResidual()) if mlf else (LowerResidual(),)
    return run_passes(net, *passes), shape


def test_scaling_that_ignores_levels_is_refused_and_caught(request: pytest.FixtureRequest) -> None:
    """Run on K-level populations, the factor of level 0 would be applied and every level set to θ0."""
    graph, _ = _lowered(0, mlf=False)
    with pytest.raises(CompileError) as info:
        Pipeline((LegalizeThreshold(reference=1.0),)).run(graph)
    assert set(info.value.codes) == {"SNC300"} and "lower-mlf" in (info.value.diagnostics[0].hint or "")

    def case(seed: int) -> tuple[ir.Graph, ir.Graph, np.ndarray]:
        before, shape = _lowered(seed, mlf=False)
        wrong = LegalizeThreshold(reference=1.0).run(before, PassContext())  # bypasses the requires rule
        return before, wrong, spike_input(shape, 20, 2, seed)

    wrong, total = mismatch_total(case, range(20))
    report(request, f"legalize-threshold negative control (K-level populations, levels ignored): {wrong} / "
                    f"{total} spike decisions differ over 20 random DS-ResNet networks")
    assert wrong > 0


@pytest.mark.parametrize("wrong", ["bias not rescaled", "shared synapses rescaled in place"])
def test_wrong_rescaling_is_caught(wrong: str, monkeypatch: pytest.MonkeyPatch,
                                   request: pytest.FixtureRequest) -> None:
    right = legalize_threshold.scale_rows

    def keep_bias(op: ir.Op, rows: np.ndarray) -> ir.Op:
        scaled = right(op, rows)
        return scaled.replace(bias=op.bias) if isinstance(op, (ir.Dense, ir.Conv2d)) else scaled

    if wrong == "bias not rescaled":
        monkeypatch.setattr(legalize_threshold, "scale_rows", keep_bias)
    else:
        monkeypatch.setattr(legalize_threshold._Rewriter, "exclusive", lambda self, name, reader: True)
    family = "ds" if wrong == "bias not rescaled" else "preact"  # preact: conv outputs feed several LIFs

    def case(seed: int) -> tuple[ir.Graph, ir.Graph, np.ndarray]:
        net, shape = random_network(seed, family, rank=3, levels=3, reset="zero")
        before = run_passes(net, LowerMLF(), LowerResidual())
        return before, run_passes(before, LegalizeThreshold(reference=1.0)), spike_input(shape, 20, 2, seed)

    wrong_count, total = mismatch_total(case, range(20))
    report(request, f"legalize-threshold negative control ({wrong}): {wrong_count} / {total} spike "
                    f"decisions differ over 20 random {family} networks")
    assert wrong_count > 0


# ---------------------------------------------------------------------------------------------------------
# Hand-built graphs: goldens, copies, errors


def _base(shape: tuple[int, ...] = (2, 4, 4)) -> list[ir.Op]:
    rng = np.random.default_rng(0)
    return [ir.Input("x", (), "input", shape=shape),
            ir.Conv2d("conv", (ir.Edge("x"),), "conv", weight=rng.normal(size=(2, shape[0], 3, 3)),
                      bias=rng.normal(size=2), padding=(1, 1))]


def _neuron(name: str, src: ir.Edge | str, theta: np.ndarray, **kw: object) -> ir.LIF:
    edge = src if isinstance(src, ir.Edge) else ir.Edge(src)
    return ir.LIF(name, (edge,), name, decay=np.full(theta.shape, 0.25), threshold=theta[None],
                  **kw)  # type: ignore[arg-type]


def per_channel(values: tuple[float, ...], hw: tuple[int, int] = (4, 4)) -> np.ndarray:
    return np.asarray(values)[:, None, None] * np.ones((len(values), *hw))


def golden_dense() -> ir.Graph:
    rng = np.random.default_rng(1)
    nodes = [ir.Input("x", (), "input", shape=(4,)),
             ir.Dense("fc", (ir.Edge("x"),), "fc", weight=rng.normal(size=(3, 4)), bias=rng.normal(size=3)),
             _neuron("lif", ir.Edge("fc", 1), np.array([0.5, 1.0, 2.0]), reset="subtract")]
    return ir.Graph(tuple(nodes), ("lif",), {"timesteps": 20})


def golden_conv_shared() -> ir.Graph:
    """L2 + L5: a conv feeds two populations: the first gets a rescaled copy, the second (then the only
    reader left) rescales the original in place."""
    nodes = [*_base(), _neuron("a", "conv", per_channel((0.5, 1.0))), _neuron("b", "conv", per_channel((1.0, 0.8)))]
    return ir.Graph(tuple(nodes), ("a", "b"), {"timesteps": 20})


def golden_pool() -> ir.Graph:
    nodes = [*_base(), _neuron("s", "conv", per_channel((0.5, 0.5))),
             ir.Pool2d("pool", (ir.Edge("s"),), "pool", mode="avg"),
             _neuron("lif", "pool", per_channel((0.3, 0.6), (2, 2)))]
    return ir.Graph(tuple(nodes), ("lif",), {"timesteps": 20})


def golden_flatten_shared() -> ir.Graph:
    """L4 + L5: two rank-1 populations read one flatten of one conv, with thresholds per conv channel."""
    theta = np.repeat([0.4, 0.9], 16)
    nodes = [*_base(), ir.Flatten("flat", (ir.Edge("conv"),), "flat"),
             _neuron("a", "flat", theta), _neuron("b", ir.Edge("flat", 2), theta[::-1].copy())]
    return ir.Graph(tuple(nodes), ("a", "b"), {"timesteps": 20})


def golden_gain() -> ir.Graph:
    theta = np.random.default_rng(2).uniform(0.4, 1.0, (2, 4, 4))
    return ir.Graph(tuple([*_base(), _neuron("lif", "conv", theta)]), ("lif",), {"timesteps": 20})


GOLDEN = {"l1_dense_rows": (golden_dense, {}), "l2_l5_conv_shared": (golden_conv_shared, {}),
          "l3_pool_to_depthwise": (golden_pool, {}), "l4_l5_flatten_shared": (golden_flatten_shared, {}),
          "l7_gain_fallback": (golden_gain, {"gain_fallback": True})}


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_golden_rules_and_exactness(case: str, golden: object) -> None:
    build, options = GOLDEN[case]
    before = build()
    after = run_passes(before, LegalizeThreshold(**options))  # type: ignore[arg-type]
    text = "\n\n".join([ir.print_graph(before), threshold_digest(before), ir.print_graph(after),
                         threshold_digest(after), row_digest(before, after)])
    golden(f"legalize_threshold_{case}.txt", text)  # type: ignore[operator]
    x = spike_input(before.of_kind(ir.Input)[0].shape, 25, 3, 1, "currents") * 2
    result = compare(before, after, x)
    assert not result.near_tie() and result.total_mismatches == 0
    assert sum(result.decisions.values()) and all(np.ptp(n.threshold) == 0 for n in after.of_kind(ir.LIF))


def test_copies_rows_and_stats() -> None:
    ctx = PassContext()
    before = golden_conv_shared()
    after = LegalizeThreshold().run(before, ctx)
    assert after.node("a").inputs == (ir.Edge("conv.for.a"),) and after.node("b").inputs == (ir.Edge("conv"),)
    np.testing.assert_allclose(after.node("conv.for.a").weight, before.node("conv").weight * [[[[2.0]]], [[[1.0]]]])
    np.testing.assert_allclose(after.node("conv").bias, before.node("conv").bias * [1.0, 1.25])
    assert ctx.stats["synapse_copies"] == 1 and ctx.stats["max_scale"] == 2.0 and ctx.stats["min_scale"] == 1.0
    assert any(n.startswith("largest rescaling: ×2") for n in ctx.notes)
    uniform = ir.Graph(tuple([*_base(), _neuron("a", "conv", per_channel((0.5, 0.5)))]), ("a",))
    assert LegalizeThreshold().run(uniform, PassContext()) is uniform


def test_bad_thresholds_are_listed_with_numbers() -> None:
    theta = per_channel((0.5, 0.5, 0.5, -0.12))
    theta[1, 0, 2] = 0.0
    dense_theta = np.array([0.5, 0.7, np.nan, 0.2, np.inf, -1.0])
    many = -np.arange(1.0, 13.0)
    rng = np.random.default_rng(0)
    nodes = [ir.Input("x", (), "input", shape=(4, 4, 4)),
             ir.Conv2d("conv", (ir.Edge("x"),), "conv", weight=rng.normal(size=(4, 4, 1, 1))),
             _neuron("lif", "conv", theta),
             ir.Flatten("f", (ir.Edge("x"),), "f"),
             ir.Dense("fc", (ir.Edge("f"),), "head.fc", weight=np.ones((6, 64))),
             _neuron("out", "fc", dense_theta),
             ir.Dense("fc12", (ir.Edge("f"),), "fc12", weight=np.ones((12, 64))),
             _neuron("many", "fc12", many)]
    graph = ir.Graph(tuple(nodes), ("lif", "out", "many"))
    with pytest.raises(CompileError) as info:
        Pipeline((LegalizeThreshold(),)).run(graph)
    err = info.value
    assert err.codes == ["SNC530"] * 3
    first, second, third = err.diagnostics
    assert first.node == "lif" and "17 of 64 thresholds" in first.message
    assert "channel 3: θ = -0.12" in first.message and "neuron (1, 0, 2): θ = 0" in first.message
    assert "neuron 2: θ = nan" in second.message and "neuron 4: θ = inf" in second.message
    assert "neuron 5: θ = -1" in second.message and "3 of 6" in second.message
    assert "neuron 7: θ = -8" in third.message and "and 4 more" in third.message
    assert first.hint and "θ > 0" in first.hint


def test_elementwise_threshold_under_conv_is_refused() -> None:
    graph = golden_gain()
    graph = graph.with_nodes([*graph.nodes, ir.Pool2d("p", (ir.Edge("lif"),), "p"),
                              _neuron("q", "p", np.random.default_rng(0).uniform(0.4, 1, (2, 2, 2)))], ("lif", "q"))
    with pytest.raises(CompileError) as info:
        LegalizeThreshold().run(graph, PassContext())
    assert info.value.codes == ["SNC531", "SNC531"]
    assert "conv2d %conv" in info.value.diagnostics[0].message and "gain_fallback" in info.value.diagnostics[0].hint


@pytest.mark.parametrize("reference", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_reference_is_a_usage_error(reference: float) -> None:
    with pytest.raises(CompileError) as info:
        LegalizeThreshold(reference=reference).run(golden_dense(), PassContext())
    assert info.value.codes == ["SNC205"]


def test_requires_synaptic_inputs() -> None:
    nodes = [ir.Input("x", (), "input", shape=(3,)), _neuron("lif", "x", np.array([0.5, 1.0, 2.0]))]
    with pytest.raises(CompileError) as info:
        Pipeline((LegalizeThreshold(),)).run(ir.Graph(tuple(nodes), ("lif",)))
    assert info.value.codes == ["SNC300"] and "lower-residual" in (info.value.diagnostics[0].hint or "")


@pytest.mark.parametrize("family", ["tdbn", "ds", "plain"])
def test_s2nn_single_step(family: str) -> None:
    """S2NN (decay 0, >=, reset none) at T = 1: ">=" and timesteps survive; exact at T = 1 and T = 20."""
    for seed in range(10):
        net, shape = random_network(seed, family, s2nn=True, steps=1, input_kind="currents")
        before = run_passes(net, LowerMLF(), LowerResidual())
        after = run_passes(before, LegalizeThreshold(reference=1.0))
        assert after.metadata["timesteps"] == 1
        assert {(n.comparison, n.reset, float(n.threshold.flat[0])) for n in after.of_kind(ir.LIF)} == \
            {(">=", "none", 1.0)}
        for steps in (1, 20):
            result = compare(before, after, spike_input(shape, steps, 4, seed, "currents"))
            assert result.near_tie() or result.total_mismatches == 0
