"""loihi-quantize and the Loihi rules: formats, the scale ledger, collected errors, overflow reports."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.passes import PassContext, Pipeline
from snncompile.sim import simulate
from snncompile.targets.loihi import LOIHI, simulate_loihi, testnets
from snncompile.targets.loihi.caps import LoihiOptions
from snncompile.targets.loihi.encoding import choose_encoding
from snncompile.targets.loihi.ops import Encode, LoihiLIF
from snncompile.targets.loihi.structure import positions


def compile_ir(graph: ir.Graph, **options: object) -> tuple[ir.Graph, PassContext]:
    ctx = PassContext()
    return LOIHI.with_options(options).pipeline().run(graph, ctx)[0], ctx


@pytest.mark.parametrize("name", ["dense_chain", "conv_chain", "mlf_net", "residual_net", "cuba_net"])
def test_quantized_graph_obeys_every_rule_and_format(name: str) -> None:
    q, _ = compile_ir(getattr(testnets, name)())
    assert [d for rule in LOIHI.rules() for d in rule(q)] == []
    for pop in q.of_kind(LoihiLIF):
        for e in pop.inputs:
            w = q.node(e.src).weight  # type: ignore[attr-defined]
            assert np.all(w % 2 == 0) and w.min() >= -256 and w.max() <= 254 and np.any(w)
        assert 0 <= pop.threshold <= 2**17 - 1  # type: ignore[attr-defined]
        assert pop.bias is None or (pop.bias.min() >= -4096 and pop.bias.max() <= 4095)  # type: ignore[attr-defined]
    ledger = q.metadata["loihi"]["ledger"]
    assert set(ledger) == {p.name for p in q.of_kind(LoihiLIF)}
    for name_, entry in ledger.items():
        step = entry["step"]
        assert np.isclose(np.max(step) * entry["vth"], entry["threshold"])
        assert np.allclose(q.node(name_).scale, step)  # type: ignore[attr-defined]


def test_levels_of_one_layer_share_vthmant_with_their_own_scales() -> None:
    q, _ = compile_ir(testnets.mlf_net())
    levels = [q.node(f"mlf0.level{k}") for k in range(3)]
    assert len({p.threshold for p in levels}) == 1  # type: ignore[attr-defined]
    steps = [q.metadata["loihi"]["ledger"][p.name]["step"] for p in levels]
    np.testing.assert_allclose(np.array(steps) / steps[0], [1, 1.6 / 0.6, 2.6 / 0.6])


def test_quantized_spikes_stay_close_to_float_and_the_integer_model_is_deterministic() -> None:
    graph = testnets.dense_chain(sizes=(64, 48, 32), timesteps=10)
    q, _ = compile_ir(graph)
    x = np.random.default_rng(0).random((10, 32, 64))
    ref, got = simulate(graph, x), simulate_loihi(q, x)
    pos = positions(q)
    for pop in graph.of_kind(ir.LIF):
        window = got[pop.name][pos[pop.name]:pos[pop.name] + 10]
        assert np.mean(window != ref[pop.name]) < 0.03
    np.testing.assert_array_equal(simulate_loihi(q, x)["lif1"], got["lif1"])


def test_input_encoding_detects_binary_and_grids_from_calibration() -> None:
    assert choose_encoding(LoihiOptions(calibration=np.array([0.0, 1.0, 1.0]))).kind == "binary"
    enc = choose_encoding(LoihiOptions(calibration=np.arange(17) / 16.0))
    assert (enc.kind, enc.scale, enc.low, enc.high, enc.bits) == ("graded", 16.0, 0, 16, 5)
    signed = choose_encoding(LoihiOptions(calibration=np.array([-0.3712345, 0.5])))
    assert signed.free and signed.low == -128 and signed.scale == pytest.approx(127 / 0.5)
    grid = choose_encoding(LoihiOptions(calibration=np.array([-0.37, 0.5])))
    assert (grid.scale, grid.low, grid.high, grid.bits) == (100.0, -50, 50, 7)
    assert choose_encoding(LoihiOptions()).scale == 255.0


def test_free_input_scale_balances_input_and_weight_rounding() -> None:
    graph = testnets.dense_chain(sizes=(64, 48, 32), timesteps=10)
    q, _ = compile_ir(graph)
    enc = q.metadata["loihi"]["input"]
    assert 1 < enc["scale"] < 255 and enc["high"] == int(np.floor(enc["scale"] + 0.5))
    w = q.node("fc0").weight  # type: ignore[attr-defined]
    assert np.abs(w).max() <= 254


def test_calibration_replaces_the_worst_case_cap_and_is_reported() -> None:
    graph = testnets.dense_chain(timesteps=6)
    x = np.random.default_rng(1).random((6, 20, 40))
    worst, _ = compile_ir(graph)
    calibrated, _ = compile_ir(graph, calibration=x)
    assert calibrated.node("lif0").threshold >= worst.node("lif0").threshold  # type: ignore[attr-defined]
    row = next(r for r in calibrated.metadata["loihi"]["overflow"] if r["node"] == "lif0")
    assert row["a_measured"] is not None and row["a_measured"] <= 2**17


def bad_graph() -> ir.Graph:
    """Four problems in four layers: subtract reset, ≥ on a leaky neuron, a negative threshold, and a
    synapse whose weights all round to zero next to a large one."""
    b = testnets.Builder((12,), seed=3, timesteps=4)
    a = b.lif("sub", [b.dense("fc0", "input", 8)], reset="subtract")
    a = b.lif("geq", [b.dense("fc1", a, 8)], comparison=">=")
    a = b.lif("neg", [b.dense("fc2", a, 8)], theta=-0.5)
    tiny = b.dense("tiny", a, 8, gain=1e-6)
    big = b.dense("big", a, 8, gain=10.0)
    return b.readout(b.lif("mix", [big, tiny]))


def test_all_problems_are_reported_together_with_node_origin_numbers_and_hint() -> None:
    with pytest.raises(CompileError) as err:
        compile_ir(bad_graph())
    by_code = {d.code: d for d in err.value.diagnostics}
    assert {"SNC610", "SNC611", "SNC613", "SNC614"} <= set(by_code)
    assert by_code["SNC610"].node == "sub" and by_code["SNC610"].origin == "sub"
    assert "round to zero" in by_code["SNC614"].message and "vThMant" in by_code["SNC614"].message
    assert all(d.hint for d in err.value.diagnostics if d.code != "SNC611" or d.hint)


def test_overflow_analysis_reports_wrap_and_saturation_with_numbers() -> None:
    graph = testnets.dense_chain(sizes=(12000, 16), timesteps=4, gain=1.0)
    _, ctx = compile_ir(graph, overflow="warn", input_encoding="binary")
    codes = {d.code for d in ctx.diagnostics}
    assert "SNC622" in codes
    wrap = next(d for d in ctx.diagnostics if d.code == "SNC622")
    assert "2^23" in wrap.message and wrap.severity == "warning"
    capped, ctx = compile_ir(graph, overflow="avoid", input_encoding="binary")
    assert not any(r["u_wrap_possible"] for r in capped.metadata["loihi"]["overflow"])


def rule_codes(graph: ir.Graph) -> set[str]:
    return {d.code for rule in LOIHI.rules() for d in rule(graph)}


def test_rules_catch_bad_fixed_point_graphs() -> None:
    q = testnets.stress_graph()
    assert rule_codes(q) == set()
    fc0 = q.node("fc0")
    bad = q.with_nodes([fc0.replace(weight=fc0.weight + 1) if n is fc0 else n for n in q.nodes])  # type: ignore[attr-defined]
    assert "SNC616" in rule_codes(bad)
    lif = q.node("lif1")
    bad = q.with_nodes([lif.replace(threshold=2**17, bias=np.full(8, 5000.0), v_decay=5000) if n is lif else n
                        for n in q.nodes])
    assert {"SNC613", "SNC615", "SNC617"} <= rule_codes(bad)
    float_pop = ir.LIF("lif1", lif.inputs, decay=np.zeros(8), threshold=np.ones((1, 8)))
    assert "SNC600" in rule_codes(q.with_nodes([float_pop if n is lif else n for n in q.nodes]))


def test_encode_node_feeds_the_first_synapse() -> None:
    q, _ = compile_ir(testnets.conv_chain())
    (enc,) = q.of_kind(Encode)
    assert {c.name for c in q.consumers(enc.name)} == {"conv0", "conv2b"}
    assert Pipeline(()).names == []
