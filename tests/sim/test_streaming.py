"""Streaming: the simulators give the same results whatever the time chunk, with delays, resets and readouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.passes import PassContext
from snncompile.sim import interpreter, simulate
from snncompile.targets.loihi import LOIHI, LOIHI_OPS, simulate_loihi, testnets
from snncompile.targets.loihi.numerics import pad_input
from snncompile.verification.stages import counting_numerics

FLOAT_NETS = ["dense_chain", "conv_chain", "mlf_net", "residual_net", "cuba_net", "shortcut_pool_net"]
LOIHI_NETS = ["dense_chain", "conv_chain", "mlf_net", "residual_net", "cuba_net", "stress_graph"]


def sample(graph: ir.Graph, batch: int = 3, seed: int = 0) -> np.ndarray:
    (inp,) = graph.of_kind(ir.Input)
    return np.random.default_rng(seed).random((graph.timesteps, batch, *inp.shape))


def assert_same(a: interpreter.SimResult, b: interpreter.SimResult, exact: bool = True) -> None:
    assert a.values.keys() == b.values.keys()
    for name in a.values:
        if exact:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        else:  # spikes (0/1, integer counts) equal; float sums within BLAS's batch-size-dependent rounding
            np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", FLOAT_NETS)
def test_float_simulator_streamed_one_step_at_a_time_equals_one_chunk(name: str) -> None:
    """Same spikes; dense/conv values may differ in the last bit (MKL's matmul rounds by batch size)."""
    graph = getattr(testnets, name)()
    x = sample(graph)
    whole = simulate(graph, x, chunk=graph.timesteps)
    for chunk in (1, 4):
        assert_same(simulate(graph, x, chunk=chunk), whole, exact=False)


@pytest.mark.parametrize("name", LOIHI_NETS)
def test_bit_exact_pipelined_simulator_does_not_depend_on_the_chunk(name: str) -> None:
    """Hop delays (edge delays), period/phase resets and the readout window cross chunk boundaries."""
    graph = getattr(testnets, name)()
    q = graph if name == "stress_graph" else LOIHI.pipeline().run(graph, PassContext())[0]
    x = sample(graph)
    whole = simulate_loihi(q, x, chunk=10_000)
    assert any(e.delay for n in q.nodes for e in n.inputs)
    for chunk in (1, 3):
        assert_same(simulate_loihi(q, x, chunk=chunk), whole)
    assert_same(simulate_loihi(q, x, pipelined=False, chunk=2), simulate_loihi(q, x, pipelined=False))


def test_wrap_and_saturation_counts_do_not_depend_on_the_chunk() -> None:
    q = testnets.stress_graph()
    x = pad_input((sample(q) < 0.95).astype(float), q.metadata["loihi"]["latency"])
    counts = []
    for chunk in (1, 5, 10_000):
        events: dict[str, dict[str, int]] = {}
        simulate(q, x, record="outputs", numerics=counting_numerics(LOIHI_OPS, events), chunk=chunk)
        counts.append(events)
    assert counts[0] == counts[1] == counts[2]
    assert sum(e["wraps"] for e in counts[0].values()) > 0
    assert sum(e["saturations"] for e in counts[0].values()) > 0


def test_delayed_edges_longer_than_a_chunk() -> None:
    """x[t − d] with d larger than the chunk and than T (all zeros) still reads the right frames."""
    inp = ir.Input("x", (), shape=(4,))
    nodes = [inp, ir.Identity("d3", (ir.Edge("x", 3),)), ir.Identity("d9", (ir.Edge("x", 9),)),
             ir.Add("s", (ir.Edge("d3"), ir.Edge("x", 1)))]
    graph = ir.Graph(tuple(nodes), ("d3", "d9", "s"), {"timesteps": 7})
    x = np.random.default_rng(1).random((7, 2, 4))
    for chunk in (1, 2, 7):
        got = simulate(graph, x, chunk=chunk)
        np.testing.assert_array_equal(got["d3"][3:], x[:4])
        np.testing.assert_array_equal(got["d3"][:3], 0)
        np.testing.assert_array_equal(got["d9"], 0)
        np.testing.assert_array_equal(got["s"][3:], x[:4] + x[2:6])


def test_the_default_chunk_bounds_memory_by_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = testnets.conv_chain()
    x = sample(graph, batch=2)
    widest = max(int(np.prod(s)) for s in graph.shapes.values())
    monkeypatch.setattr(interpreter, "CHUNK_BUDGET", 2 * 2 * widest * 8)  # two frames of the widest node
    impls = interpreter._impls(graph, interpreter.FLOAT_OPS)
    assert interpreter._chunk(graph, impls, graph.timesteps, 2, torch.float64, None) == 2
    assert_same(simulate(graph, x), simulate(graph, x, chunk=graph.timesteps))


def test_an_impl_without_a_carry_runs_the_whole_sequence_in_one_chunk() -> None:
    graph = testnets.dense_chain()
    seen: list[int] = []
    lif = interpreter.FLOAT_OPS[ir.LIF]

    def whole(op: ir.LIF, xs: list[torch.Tensor]) -> torch.Tensor:
        seen.append(xs[0].shape[0])
        return lif(op, xs)

    simulate(graph, sample(graph), numerics={**interpreter.FLOAT_OPS, ir.LIF: whole}, chunk=1)
    assert seen and set(seen) == {graph.timesteps}


def test_a_chunk_below_one_is_refused() -> None:
    graph = testnets.dense_chain()
    with pytest.raises(ValueError, match="chunk"):
        simulate(graph, sample(graph), chunk=0)


def test_unknown_device_is_snc961() -> None:
    graph = testnets.dense_chain()
    with pytest.raises(CompileError) as info:
        simulate(graph, sample(graph), device="tpu")
    assert info.value.diagnostics[0].code == "SNC961"
