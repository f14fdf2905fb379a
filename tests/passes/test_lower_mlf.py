"""lower-mlf: property tests (exactness over random networks), a deliberately wrong lowering, goldens, S2NN."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch
from helpers.lowering import (
    Census,
    census_fixture,
    check_case,
    mismatch_total,
    random_network,
    report,
    run_passes,
    spike_input,
    threshold_digest,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snncompile import ir
from snncompile.passes import LowerMLF, LowerResidual, PassContext
from snncompile.sim.float_ops import implements
from snncompile.verification.compare import compare

CENSUS = Census("lower-mlf")
_census = census_fixture(CENSUS)


def mlf_levels(graph: ir.Graph) -> int:
    return sum(n.levels for n in graph.of_kind(ir.LIF) if n.levels > 1)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), family=st.sampled_from(["plain", "ds"]), rank=st.sampled_from([1, 3]),
       levels=st.integers(2, 4), reset=st.sampled_from([None, "zero", "subtract", "none"]),
       steps=st.integers(20, 30), batch=st.integers(2, 4), kind=st.sampled_from(["spikes", "currents"]))
def test_lower_mlf_keeps_every_spike(seed: int, family: str, rank: int, levels: int, reset: str | None,
                                     steps: int, batch: int, kind: str) -> None:
    def case(s: int) -> tuple[ir.Graph, ir.Graph, np.ndarray]:
        before, shape = random_network(s, family, rank=rank, levels=levels, reset=reset, input_kind=kind)
        after = run_passes(before, LowerMLF())
        assert all(n.levels == 1 for n in after.of_kind(ir.LIF))
        assert len(after.of_kind(ir.LIF)) == len(before.of_kind(ir.LIF)) - len(
            [n for n in before.of_kind(ir.LIF) if n.levels > 1]) + mlf_levels(before)
        return before, after, spike_input(shape, steps, batch, s, kind)

    check_case(case, seed, CENSUS)


# ---------------------------------------------------------------------------------------------------------
# A deliberately wrong lowering must be caught by the same harness


@dataclass(frozen=True, eq=False)
class SharedMembraneMLF(ir.LIF):
    """WRONG on purpose: one membrane for all K levels, out = Σ_k [h > θ_k], reset when any level fires."""

    kind: ClassVar[str] = "test_shared_membrane_mlf"


@implements(SharedMembraneMLF)
def _shared_membrane(op: SharedMembraneMLF, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    for extra in xs[1:]:
        x = x + extra
    decay, theta = torch.tensor(op.decay), torch.tensor(op.threshold).unsqueeze(1)
    v = torch.zeros_like(x[0])
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        h = decay * v + x[t]
        count = (h.unsqueeze(0) > theta).to(x.dtype).sum(0)
        v = h * (count == 0)
        out[t] = count
    return out


def shared_membrane_lowering(graph: ir.Graph) -> ir.Graph:
    nodes = [SharedMembraneMLF(**{f: getattr(n, f) for f in ("name", "inputs", "origin", "decay", "threshold")})
             if isinstance(n, ir.LIF) and n.levels > 1 else n for n in graph.nodes]
    return graph.with_nodes(nodes)


def test_shared_membrane_lowering_is_caught(request: pytest.FixtureRequest) -> None:
    def case(seed: int) -> tuple[ir.Graph, ir.Graph, np.ndarray]:
        before, shape = random_network(seed, "ds", rank=3, levels=3, reset="zero", input_kind="spikes")
        before = before.with_nodes(n.replace(gain=None, comparison=">") if isinstance(n, ir.LIF) else n
                                   for n in before.nodes)
        return before, shared_membrane_lowering(before), spike_input(shape, 20, 2, seed)

    wrong, total = mismatch_total(case, range(20))
    report(request, f"lower-mlf negative control (one shared membrane, graded count): {wrong} / {total} "
                    "spike decisions differ over 20 random DS-ResNet networks")
    assert wrong > 0


# ---------------------------------------------------------------------------------------------------------
# Rules, goldens, S2NN, bookkeeping


def small_mlf_graph(levels: int = 3, **lif: object) -> ir.Graph:
    rng = np.random.default_rng(3)
    nodes = [
        ir.Input("x", (), "input", shape=(4,)),
        ir.Dense("fc1", (ir.Edge("x"),), "fc1", weight=rng.normal(size=(5, 4)), bias=np.zeros(5)),
        ir.LIF("mlf", (ir.Edge("fc1", 1),), "mlf", decay=np.full(5, 0.25),
               threshold=np.stack([np.full(5, 0.6 + k) for k in range(levels)]), **lif),  # type: ignore[arg-type]
        ir.Dense("fc2", (ir.Edge("mlf"),), "fc2", weight=rng.normal(size=(3, 5))),
        ir.Readout("out", (ir.Edge("fc2"),), "head", weight=rng.normal(size=(2, 3))),
    ]
    return ir.Graph(tuple(nodes), ("out",), {"timesteps": 4})


def test_golden_m1_split_levels(golden: object) -> None:
    before = small_mlf_graph()
    after = run_passes(before, LowerMLF())
    text = "\n\n".join([ir.print_graph(before), threshold_digest(before), ir.print_graph(after),
                         threshold_digest(after)])
    golden("lower_mlf_m1.txt", text)  # type: ignore[operator]


def test_golden_m1_then_residual(golden: object) -> None:
    after = run_passes(small_mlf_graph(), LowerMLF(), LowerResidual())
    golden("lower_mlf_m1_residual.txt", ir.print_graph(after))  # type: ignore[operator]


def test_levels_keep_everything_but_the_threshold() -> None:
    before = small_mlf_graph(comparison=">=", reset="subtract", gain=np.linspace(0.5, 1.5, 5))
    after = run_passes(before, LowerMLF())
    levels = [after.node(f"mlf.level{k}") for k in range(3)]
    for k, lv in enumerate(levels):
        assert lv.inputs == (ir.Edge("fc1", 1),) and lv.origin == "mlf"
        assert (lv.comparison, lv.reset) == (">=", "subtract")
        np.testing.assert_array_equal(lv.gain, before.node("mlf").gain)
        np.testing.assert_array_equal(lv.threshold, before.node("mlf").threshold[k:k + 1])
    assert isinstance(after.node("mlf"), ir.Add) and after.metadata["timesteps"] == 4
    assert after.node("fc2") is before.node("fc2")  # untouched nodes stay the same objects


def test_s2nn_multilevel_t1() -> None:
    """S2NN-style levels (decay 0, >=, reset none) at T = 1: one step per layer, options and T kept."""
    graph = small_mlf_graph(comparison=">=", reset="none")
    before = graph.with_nodes([n.replace(decay=np.zeros(5)) if isinstance(n, ir.LIF) else n for n in graph.nodes],
                              timesteps=1)
    after = run_passes(before, LowerMLF(), LowerResidual())
    assert after.metadata["timesteps"] == 1
    assert {(n.comparison, n.reset, float(np.max(n.decay))) for n in after.of_kind(ir.LIF)} == {(">=", "none", 0.0)}
    for steps in (1, 20):
        x = np.random.default_rng(steps).normal(size=(steps, 3, 4))
        result = compare(before, after, x)
        assert not result.near_tie() and result.total_mismatches == 0 and result.readout_error < 1e-12


def test_stats_notes_and_no_op() -> None:
    ctx = PassContext()
    LowerMLF().run(small_mlf_graph(levels=4), ctx)
    assert ctx.stats == {"mlf_split": 1, "populations_added": 4}
    assert any(n.startswith("M1 split %mlf (4 levels)") for n in ctx.notes)
    binary = small_mlf_graph(levels=1)
    assert LowerMLF().run(binary, PassContext()) is binary


def test_level_name_collision_gets_a_fresh_name() -> None:
    g = small_mlf_graph()
    taken = ir.Dense("mlf.level1", (ir.Edge("x"),), "other", weight=np.ones((1, 4)))
    g = g.with_nodes([*g.nodes, taken], ("out", "mlf.level1"))
    after = run_passes(g, LowerMLF())
    assert "mlf.level1_1" in after and after.node("mlf.level1") is taken
