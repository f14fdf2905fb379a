"""loihi-cuba: current-based library neurons run as Loihi's CUBA LIF; what it cannot run is refused."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.ir.ops_ext import LIFExt
from snncompile.passes import PassContext, Pipeline
from snncompile.sim import simulate
from snncompile.targets.loihi import LOIHI, simulate_loihi, testnets
from snncompile.targets.loihi.cuba import LoihiCurrentNeurons
from snncompile.targets.loihi.ops import LoihiLIF, ScheduledLIF

GOLDEN = """\
graph (timesteps=4) {
  %input = input() {shape=(6)} : [6]
  %f = dense(%input) {weight:[5,6]} : [5]
  %n1 = scheduled_lif(%f) {comparison=>, reset=zero, period=0, phase=0, decay:[1], threshold:[1,1], syn_decay:[1]} : [5]
  %fc2 = dense(%n1) {weight:[3,5]} : [3]
  %plain = lif(%fc2) {comparison=>, reset=zero, decay:[1], threshold:[1,1]} : [3]
  return %plain
}"""


def small(syn_decay: float | None = 0.5, timing: str = "immediate", comparison: str = ">",
          reset: str = "zero", bias: bool = False) -> ir.Graph:
    rng = np.random.default_rng(0)
    nodes = [ir.Input("input", (), shape=(6,)),
             ir.Dense("f", (ir.Edge("input"),), "f", weight=rng.normal(0, 1, (5, 6)),
                      bias=rng.normal(0, 0.1, 5) if bias else None),
             LIFExt("n1", (ir.Edge("f"),), "n1", decay=np.full(5, 0.5), threshold=np.full(5, 0.5),
                    syn_decay=None if syn_decay is None else np.full(5, syn_decay), comparison=comparison,
                    reset=reset, reset_timing=timing),
             ir.Dense("fc2", (ir.Edge("n1"),), "fc2", weight=rng.normal(0, 1, (3, 5))),
             LIFExt("plain", (ir.Edge("fc2"),), "plain", decay=np.full(3, 0.25), threshold=np.full(3, 0.3))]
    graph = ir.Graph(tuple(nodes), ("plain",), {"timesteps": 4})
    ir.verify_or_raise(graph)
    return graph


def test_golden_rewrite_and_same_float_spikes() -> None:
    graph = small()
    lowered = Pipeline((LoihiCurrentNeurons(),)).run(graph, PassContext())[0]
    assert ir.print_graph(lowered) == GOLDEN
    x = np.random.default_rng(1).random((4, 32, 6)) * 2
    ref, got = simulate(graph, x), simulate(lowered, x)
    for name in ("n1", "plain"):
        np.testing.assert_array_equal(got[name], ref[name])
        assert 0 < ref[name].mean() < 1


def test_quantized_current_registers_and_gathered_overflow_bound() -> None:
    q = LOIHI.pipeline().run(testnets.cuba_net(), PassContext())[0]
    pops = {p.name: p for p in q.of_kind(LoihiLIF)}
    assert {n: (p.i_decay, p.v_decay) for n, p in pops.items()} == \
        {"cuba0": (2048, 3072), "cuba1": (1024, 2048), "cuba2": (2048, 3072)}
    from snncompile.targets.loihi.overflow import drive_bounds

    rows = {r["node"]: r for r in q.metadata["loihi"]["overflow"]}
    for name, pop in pops.items():
        assert rows[name]["a_max"] == pytest.approx(max(drive_bounds(q, pop)) * 4096 / pop.i_decay)


def test_pipelined_and_unpipelined_integer_runs_agree() -> None:
    graph = testnets.cuba_net()
    q = LOIHI.pipeline().run(graph, PassContext())[0]
    x = np.random.default_rng(3).random((graph.timesteps, 4, 2, 6, 6))
    flat, piped = simulate_loihi(q, x, pipelined=False), simulate_loihi(q, x)
    from snncompile.targets.loihi.structure import positions

    pos = positions(q)
    for pop in q.of_kind(LoihiLIF):
        window = piped[pop.name][pos[pop.name]:pos[pop.name] + graph.timesteps]
        np.testing.assert_array_equal(window, flat[pop.name], err_msg=pop.name)


@pytest.mark.parametrize(("kwargs", "code", "text"), [
    ({"timing": "delayed"}, "SNC610", "reset timing 'delayed'"),
    ({"timing": "double", "reset": "subtract"}, "SNC610", "reset timing 'double'"),
    ({"comparison": ">="}, "SNC611", "non-strict"),
    ({"bias": True}, "SNC610", "synapse bias into a decaying synaptic current"),
])
def test_refusals_name_the_neuron(kwargs: dict, code: str, text: str) -> None:
    with pytest.raises(CompileError) as info:
        LOIHI.pipeline().run(small(**kwargs), PassContext())
    found = [d for d in info.value.diagnostics if d.code == code]
    assert found and found[0].node == "n1" and text in found[0].message, info.value.diagnostics


def test_memoryless_membrane_with_a_current_keeps_the_per_sample_reset() -> None:
    graph = small()
    nodes = [n.replace(decay=np.zeros(n.decay.shape)) if isinstance(n, LIFExt) else n for n in graph.nodes]
    q = LOIHI.pipeline().run(graph.with_nodes(nodes), PassContext())[0]
    assert q.metadata["loihi"]["period"] == 4  # the current carries state across steps: not period 1
    assert not any(isinstance(n, ScheduledLIF) for n in q.nodes)


def test_a_current_that_never_decays_is_warned_about() -> None:
    ctx = PassContext()
    LOIHI.pipeline().run(small(syn_decay=1.0), ctx)
    found = [d for d in ctx.diagnostics if d.code == "SNC621" and d.node == "n1"]
    assert found and "iDecay 0" in found[0].message
