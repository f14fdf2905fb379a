"""lower-residual: property tests over residual families, wrong lowerings, errors, goldens per rule, S2NN."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.lowering import (
    Census,
    census_fixture,
    check_case,
    mismatch_total,
    random_network,
    report,
    run_passes,
    spike_input,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.passes import LowerMLF, LowerResidual, PassContext, Pipeline, lower_residual
from snncompile.verification.compare import compare

CENSUS = Census("lower-residual")
_census = census_fixture(CENSUS)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), family=st.sampled_from(["tdbn", "ds", "preact"]), rank=st.sampled_from([1, 3]),
       levels=st.integers(2, 4), lower_mlf=st.booleans(), reset=st.sampled_from([None, "zero", "subtract", "none"]),
       blocks=st.integers(1, 3), steps=st.integers(20, 30), batch=st.integers(2, 4),
       kind=st.sampled_from(["spikes", "currents"]))
def test_lower_residual_keeps_every_spike(seed: int, family: str, rank: int, levels: int, lower_mlf: bool,
                                          reset: str | None, blocks: int, steps: int, batch: int,
                                          kind: str) -> None:
    def case(s: int) -> tuple[ir.Graph, ir.Graph, np.ndarray]:
        before, shape = random_network(s, family, rank=rank, levels=levels, blocks=blocks, reset=reset,
                                       input_kind=kind)
        after = run_passes(before, *((LowerMLF(),) if lower_mlf else ()), LowerResidual())
        assert not after.of_kind(ir.Add)
        return before, after, spike_input(shape, steps, batch, s, kind)

    check_case(case, seed, CENSUS)


# ---------------------------------------------------------------------------------------------------------
# Deliberately wrong lowerings, measured with the same harness


def _ds_case(seed: int) -> tuple[ir.Graph, ir.Graph, np.ndarray]:
    before, shape = random_network(seed, "ds", rank=3, levels=3, blocks=2)
    return before, run_passes(before, LowerMLF(), LowerResidual()), spike_input(shape, 20, 2, seed)


@pytest.mark.parametrize("wrong", ["bias on every copy", "bias on no copy", "consumer delay dropped"])
def test_wrong_residual_lowering_is_caught(wrong: str, monkeypatch: pytest.MonkeyPatch,
                                           request: pytest.FixtureRequest) -> None:
    if wrong == "bias on every copy":
        monkeypatch.setattr(lower_residual, "bias_share", lambda op, index: getattr(op, "bias", None))
    elif wrong == "bias on no copy":
        monkeypatch.setattr(lower_residual, "bias_share", lambda op, index: None)
    else:
        def no_delay(self: object, edge: ir.Edge) -> list:
            return [(ir.Edge(t.src, t.delay), root) for t, root in self.expand(edge.src)]  # type: ignore[attr-defined]
        monkeypatch.setattr(lower_residual._Distributor, "edge_terms", no_delay)
    wrong_count, total = mismatch_total(_ds_case, range(20))
    report(request, f"lower-residual negative control ({wrong}): {wrong_count} / {total} spike decisions "
                    "differ over 20 random DS-ResNet networks")
    assert wrong_count > 0


# ---------------------------------------------------------------------------------------------------------
# Hand-built graphs: goldens per rule, delays, errors


def _conv(name: str, src: ir.Edge | str, c_in: int, c_out: int, k: int = 3, bias: bool = True) -> ir.Conv2d:
    rng = np.random.default_rng(len(name))
    return ir.Conv2d(name, (src if isinstance(src, ir.Edge) else ir.Edge(src),), name,
                     weight=rng.normal(0, 0.6, (c_out, c_in, k, k)), bias=rng.normal(0, 0.2, c_out) if bias else None,
                     padding=(k // 2, k // 2))


def _lif(name: str, *srcs: ir.Edge | str, shape: tuple[int, ...] = (2, 4, 4), **kw: object) -> ir.LIF:
    edges = tuple(s if isinstance(s, ir.Edge) else ir.Edge(s) for s in srcs)
    fields: dict[str, object] = {"decay": np.full(shape, 0.25), "threshold": np.full((1, *shape), 0.5), **kw}
    return ir.LIF(name, edges, name, **fields)  # type: ignore[arg-type]


def _head(src: str, n: int = 32) -> list[ir.Op]:
    return [ir.Flatten("flat", (ir.Edge(src),), "flat"),
            ir.Readout("out", (ir.Edge("flat"),), "out", weight=np.random.default_rng(1).normal(size=(3, n)))]


def graph_of(nodes: list[ir.Op], timesteps: int = 20) -> ir.Graph:
    return ir.Graph(tuple([ir.Input("x", (), "input", shape=(2, 4, 4)), *nodes]), ("out",), {"timesteps": timesteps})


def tdbn_block() -> ir.Graph:
    """LIF(conv2(LIF(conv1(s))) + s) with s spikes: R5 identity shortcut, R4 fan-in."""
    return graph_of([_conv("stem", "x", 2, 2), _lif("s", "stem"), _conv("conv1", "s", 2, 2), _lif("lif1", "conv1"),
                     _conv("conv2", "lif1", 2, 2), ir.Add("add", (ir.Edge("conv2"), ir.Edge("s", 1)), "block.add"),
                     _lif("lif2", "add"), *_head("lif2")])


def nested_adds() -> ir.Graph:
    """R1 + R4: a sum of a sum with delays on both levels feeds a neuron."""
    return graph_of([_conv("a", "x", 2, 2), _conv("b", "x", 2, 2, k=1), _conv("c", "x", 2, 2),
                     ir.Add("inner", (ir.Edge("a", 1), ir.Edge("b")), "inner"),
                     ir.Add("outer", (ir.Edge("inner", 2), ir.Edge("c")), "outer"),
                     _lif("lif", ir.Edge("outer", 1)), *_head("lif")])


def conv_over_sum() -> ir.Graph:
    """R2: conv(Σ) -> one copy per source population, bias on the first copy only."""
    return graph_of([_conv("stem", "x", 2, 2), _lif("p", "stem"), _lif("q", "stem", reset="subtract"),
                     ir.Add("sum", (ir.Edge("p"), ir.Edge("q", 1)), "sum"), _conv("conv", ir.Edge("sum", 1), 2, 2),
                     _lif("lif", "conv"), *_head("lif")])


def pool_flatten_over_sum() -> ir.Graph:
    """R3 + R2 + R4: avg pool and flatten over a sum into two dense layers; a readout over a sum."""
    rng = np.random.default_rng(5)
    return graph_of([_conv("stem", "x", 2, 2), _lif("p", "stem"), _lif("q", "stem"),
                     ir.Add("sum", (ir.Edge("p"), ir.Edge("q")), "sum"),
                     ir.Pool2d("pool", (ir.Edge("sum"),), "pool", mode="avg"),
                     ir.Flatten("flat8", (ir.Edge("pool"),), "flat8"),
                     ir.Dense("fc", (ir.Edge("flat8"),), "fc", weight=rng.normal(size=(4, 8)), bias=np.ones(4)),
                     _lif("lif", "fc", shape=(4,)),
                     ir.Dense("fc2", (ir.Edge("flat8"),), "fc2", weight=rng.normal(size=(4, 8))),
                     _lif("lif2", "fc2", shape=(4,)),
                     ir.Add("votes", (ir.Edge("lif"), ir.Edge("lif2", 1)), "votes"),
                     ir.Readout("out", (ir.Edge("votes"),), "out", weight=rng.normal(size=(3, 4)))])


def dense_identity() -> ir.Graph:
    """R5 on rank 1: the input feeds a neuron straight (direct encoding) and a spike shortcut."""
    rng = np.random.default_rng(2)
    nodes = [ir.Input("x", (), "input", shape=(6,)), _lif("enc", "x", shape=(6,)),
             ir.Dense("fc", (ir.Edge("enc"),), "fc", weight=rng.normal(size=(6, 6))),
             ir.Add("add", (ir.Edge("fc"), ir.Edge("enc")), "add"), _lif("lif", "add", shape=(6,)),
             ir.Readout("out", (ir.Edge("lif"),), "out", weight=rng.normal(size=(2, 6)))]
    return ir.Graph(tuple(nodes), ("out",), {"timesteps": 20})


def ds_block() -> ir.Graph:
    """One DS-ResNet block with K = 2 MLF neurons and an identity shortcut of spike counts, then a conv."""
    mlf = {"threshold": np.stack([np.full((2, 4, 4), 0.6), np.full((2, 4, 4), 1.6)])}
    return graph_of([_conv("stem", "x", 2, 2), _lif("m0", "stem", **mlf), _conv("conv1", "m0", 2, 2),
                     _lif("m1", "conv1", **mlf), _conv("conv2", "m1", 2, 2), _lif("m2", "conv2", **mlf),
                     ir.Add("stream", (ir.Edge("m2"), ir.Edge("m0")), "block.add"), _conv("next", "stream", 2, 2),
                     _lif("lif", "next"), *_head("lif")])


GOLDEN_CASES = {"r1_r4_nested": nested_adds, "r2_conv_over_sum": conv_over_sum,
                "r3_pool_flatten": pool_flatten_over_sum, "r5_tdbn_identity": tdbn_block,
                "r5_dense_identity": dense_identity, "ds_block": ds_block}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_rules_and_exactness(case: str, golden: object) -> None:
    before = GOLDEN_CASES[case]()
    after = run_passes(before, LowerMLF(), LowerResidual())
    golden(f"lower_residual_{case}.txt", ir.print_graph(before) + "\n\n" + ir.print_graph(after))  # type: ignore[operator]
    shape = before.of_kind(ir.Input)[0].shape
    result = compare(before, after, spike_input(shape, 25, 3, 0, "currents") * 2)
    assert result.total_mismatches == 0 and not result.near_tie() and result.readout_error < 1e-9
    assert sum(result.decisions.values()) > 0 and set(result.mismatches) == {n.name for n in before.of_kind(ir.LIF)}


def test_bias_lands_on_exactly_one_copy_and_delays_add_up() -> None:
    after = run_passes(conv_over_sum(), LowerResidual())
    copies = [after.node("conv.from.p"), after.node("conv.from.q")]
    assert copies[0].bias is not None and copies[1].bias is None
    assert copies[0].inputs == (ir.Edge("p", 1),) and copies[1].inputs == (ir.Edge("q", 2),)
    nested = run_passes(nested_adds(), LowerResidual())
    assert nested.node("lif").inputs == (ir.Edge("a", 4), ir.Edge("b", 3), ir.Edge("c", 1))


def test_stats_and_notes() -> None:
    ctx = PassContext()
    LowerResidual().run(tdbn_block(), ctx)
    assert ctx.stats == {"adds_removed": 1, "synapse_copies": 0, "ops_split": 0, "identity_synapses": 1}
    assert any(n.startswith("R5 %s -> %lif2 through one-to-one %s.to.lif2") for n in ctx.notes)
    ctx = PassContext()
    LowerResidual().run(conv_over_sum(), ctx)
    assert ctx.stats["synapse_copies"] == 2 and any(n.startswith("R2 split %conv over 2 terms") for n in ctx.notes)


def test_graph_without_adds_is_returned_unchanged() -> None:
    g = graph_of([_conv("c", "x", 2, 2), _lif("lif", "c"), *_head("lif")])
    assert LowerResidual().run(g, PassContext()) is g


def _raises(graph: ir.Graph, *codes: str) -> CompileError:
    with pytest.raises(CompileError) as info:
        LowerResidual().run(graph, PassContext())
    assert info.value.codes == list(codes), info.value
    return info.value


def test_maxpool_over_sum_is_refused_with_every_offender() -> None:
    g = graph_of([_conv("a", "x", 2, 2), _conv("b", "x", 2, 2), ir.Add("add", (ir.Edge("a"), ir.Edge("b")), "blk.add"),
                  ir.MaxPool2d("mp1", (ir.Edge("add"),), "blk.pool1"),
                  ir.MaxPool2d("mp2", (ir.Edge("add"),), "blk.pool2"),
                  _conv("c", "mp1", 2, 2, k=1), _conv("d", "mp2", 2, 2, k=1),
                  ir.Add("cd", (ir.Edge("c"), ir.Edge("d")), "cd"), _lif("lif", "cd", shape=(2, 2, 2)),
                  *_head("lif", 8)])
    err = _raises(g, "SNC520", "SNC520")
    d = err.diagnostics[0]
    assert (d.node, d.origin) == ("mp1", "blk.pool1") and "sum of 2 terms" in d.message and "pool" in d.hint


def test_sum_as_graph_output_is_refused() -> None:
    g = graph_of([_conv("a", "x", 2, 2), _conv("b", "x", 2, 2), ir.Add("out", (ir.Edge("a"), ir.Edge("b")), "add")])
    _raises(g, "SNC521")


def test_rank2_direct_input_is_refused() -> None:
    nodes = [ir.Input("x", (), "input", shape=(2, 3)), _lif("out", "x", shape=(2, 3))]
    _raises(ir.Graph(tuple(nodes), ("out",)), "SNC522")


def test_sum_on_a_loop_without_neuron_is_refused() -> None:
    rng = np.random.default_rng(0)
    nodes = [ir.Input("x", (), "input", shape=(3,)),
             ir.Add("loop", (ir.Edge("x"), ir.Edge("fb", 1)), "loop"),
             ir.Dense("fb", (ir.Edge("loop"),), "fb", weight=rng.normal(size=(3, 3))),
             _lif("out", "fb", shape=(3,))]
    _raises(ir.Graph(tuple(nodes), ("out",)), "SNC523")


def test_requires_folded_norms() -> None:
    g = graph_of([_conv("c", "x", 2, 2), ir.BatchNorm("bn", (ir.Edge("c"),), "bn", mean=np.zeros(2), var=np.ones(2),
                                                        weight=np.ones(2), bias=np.zeros(2)),
                  _lif("lif", "bn"), *_head("lif")])
    with pytest.raises(CompileError) as info:
        Pipeline((LowerResidual(),)).run(g)
    assert info.value.codes == ["SNC300"] and "fold-norm" in (info.value.diagnostics[0].hint or "")


@pytest.mark.parametrize("family", ["tdbn", "ds"])
def test_s2nn_single_step(family: str) -> None:
    """S2NN (decay 0, >=, reset none, T = 1): timesteps and the non-strict comparison survive the lowering."""
    for seed in range(10):
        before, shape = random_network(seed, family, s2nn=True, steps=1, input_kind="currents")
        after = run_passes(before, LowerMLF(), LowerResidual())
        assert after.metadata["timesteps"] == 1
        assert {(n.comparison, n.reset) for n in after.of_kind(ir.LIF)} == {(">=", "none")}
        for steps in (1, 20):
            result = compare(before, after, spike_input(shape, steps, 4, seed, "currents"))
            assert result.near_tie() or result.total_mismatches == 0
