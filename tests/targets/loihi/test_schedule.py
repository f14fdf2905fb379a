"""loihi-maxpool and loihi-schedule: the pipelined float graph reproduces the zero-latency graph exactly."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.ir.traits import float_neurons
from snncompile.passes import PassContext, Pipeline
from snncompile.sim import simulate
from snncompile.targets.loihi import LOIHI, simulate_loihi, testnets
from snncompile.targets.loihi.cuba import LoihiCurrentNeurons
from snncompile.targets.loihi.numerics import pad_input
from snncompile.targets.loihi.ops import LoihiLIF, ScheduledLIF, WindowReadout
from snncompile.targets.loihi.schedule import LoihiSchedule, LowerMaxPool
from snncompile.targets.loihi.structure import positions

NETS = ["dense_chain", "conv_chain", "mlf_net", "residual_net", "cuba_net"]


def schedule(graph: ir.Graph) -> ir.Graph:
    return Pipeline((LoihiCurrentNeurons(), LowerMaxPool(), LoihiSchedule())).run(graph, PassContext())[0]


def sample(graph: ir.Graph, batch: int = 6, seed: int = 0) -> np.ndarray:
    (inp,) = graph.of_kind(ir.Input)
    return np.random.default_rng(seed).random((graph.timesteps, batch, *inp.shape))


@pytest.mark.parametrize("name", NETS)
def test_scheduled_float_graph_equals_the_zero_latency_graph(name: str) -> None:
    graph = getattr(testnets, name)()
    sched = schedule(graph)
    x, steps, latency = sample(graph), graph.timesteps, sched.metadata["loihi"]["latency"]
    ref, got = simulate(graph, x), simulate(sched, pad_input(x, latency))
    pos = positions(sched)
    for pop in float_neurons(graph):
        window = got[pop.name][pos[pop.name]:pos[pop.name] + steps]
        assert np.array_equal(window, ref[pop.name]), pop.name
        assert ref[pop.name].any()
    np.testing.assert_array_equal(got["readout"], ref["readout"])


def test_every_population_input_is_delayed_by_its_depth_difference() -> None:
    sched = schedule(testnets.residual_net())
    pos = positions(sched)
    assert sched.metadata["loihi"]["latency"] == len(sched.metadata["loihi"]["layers"]) == 8
    for pop in sched.of_kind(ScheduledLIF):
        assert pop.phase == pos[pop.name] and pop.period == sched.timesteps  # type: ignore[attr-defined]
        for e in pop.inputs:
            src = sched.node(sched.node(e.src).inputs[0].src)
            src = sched.node(src.inputs[0].src) if isinstance(src, ir.Flatten) else src
            assert e.delay == pos[pop.name] - pos[src.name] >= 1
    (readout,) = sched.of_kind(WindowReadout)
    assert readout.start == 8 and readout.length == sched.timesteps  # type: ignore[attr-defined]


def test_mlf_levels_share_one_netx_layer() -> None:
    sched = schedule(testnets.mlf_net())
    assert sched.metadata["loihi"]["layers"][0] == ["mlf0.level0", "mlf0.level1", "mlf0.level2"]


def test_maxpool_becomes_an_exact_or_population() -> None:
    b = testnets.Builder((3, 6, 6), seed=5, timesteps=5)
    a = b.lif("a", [b.conv("c", "input", 4, 3, gain=2.0)])
    graph = b.graph((b.maxpool("m", a, 2),))
    lowered = Pipeline((LowerMaxPool(),)).run(graph, PassContext())[0]
    assert isinstance(lowered.node("m"), ir.LIF)
    x = sample(graph)
    np.testing.assert_array_equal(simulate(lowered, x)["m"], simulate(graph, x)["m"])


def test_streamed_samples_equal_batched_samples() -> None:
    """With reset_interval = T, samples sent back to back give each sample's own spikes (what Lava runs)."""
    graph = testnets.residual_net()
    q = LOIHI.pipeline().run(graph, PassContext())[0]
    x, steps = sample(graph, batch=4), graph.timesteps
    batched = simulate_loihi(q, x)
    streamed = simulate_loihi(q, np.moveaxis(x, 1, 0).reshape(4 * steps, 1, *x.shape[2:]))
    pos = positions(q)
    for name in pos:
        if name in ("input", "input.encode"):
            continue
        p = pos[name]
        for b in range(4):
            assert np.array_equal(streamed[name][b * steps + p:(b + 1) * steps + p, 0], batched[name][p:p + steps, b])


def test_memoryless_networks_reset_every_step() -> None:
    b = testnets.Builder((10,), seed=6, timesteps=3)
    a = b.lif("s1", [b.dense("fc", "input", 8, gain=2.0)], decay=0.0, comparison=">=", reset="none")
    sched = schedule(b.readout(a))
    assert sched.metadata["loihi"]["period"] == 1


def test_missing_timesteps_and_explicit_delays_are_reported_together() -> None:
    b = testnets.Builder((10,), seed=7, timesteps=3)
    fc = b.dense("fc", "input", 8)
    b.nodes.append(ir.LIF("p", (ir.Edge(fc, 2),), "p", decay=np.zeros(8), threshold=np.ones((1, 8))))
    graph = ir.Graph(tuple(b.nodes), ("p",), {})
    with pytest.raises(CompileError) as err:
        schedule(graph)
    assert set(err.value.codes) == {"SNC603", "SNC604"}


def test_compact_evaluation_equals_the_valid_windows_of_the_pipelined_run() -> None:
    graph = testnets.mlf_net()
    q = LOIHI.pipeline().run(graph, PassContext())[0]
    x, steps = sample(graph, batch=5), graph.timesteps
    full, fast = simulate_loihi(q, x), simulate_loihi(q, x, pipelined=False)
    pos = positions(q)
    for pop in q.of_kind(LoihiLIF):
        assert np.array_equal(full[pop.name][pos[pop.name]:pos[pop.name] + steps], fast[pop.name])
    np.testing.assert_allclose(full["readout"], fast["readout"], rtol=0, atol=1e-12)
