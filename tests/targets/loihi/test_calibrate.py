"""Calibrated scales for approximate layers: never worse than the bounds' scale on the calibration data, inside
every format and overflow bound, recorded in the ledger; fewer weight bits give coarser weights."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile import ir
from snncompile.passes import PassContext
from snncompile.targets.loihi import LOIHI, simulate_loihi, testnets
from snncompile.targets.loihi.calibrate import candidates
from snncompile.targets.loihi.ops import LoihiLIF
from snncompile.targets.loihi.structure import positions


def compile_ir(graph: ir.Graph, **options: object) -> ir.Graph:
    return LOIHI.with_options(options).pipeline().run(graph, PassContext())[0]


def disagreement(graph: ir.Graph, q: ir.Graph, x: np.ndarray) -> int:
    from snncompile.sim import simulate

    ref, got, pos = simulate(graph, x), simulate_loihi(q, x), positions(q)
    steps = x.shape[0]
    return sum(int(np.sum(got[p.name][pos[p.name]:pos[p.name] + steps] != ref[p.name]))
               for p in graph.of_kind(ir.LIF))


def test_candidates_stay_under_the_other_bounds() -> None:
    got = candidates(400, 600.0)
    assert got[0] == 400 and max(got) <= 600 and min(got) >= int(400 * 2 ** -0.5) and len(got) == len(set(got))


def test_calibrated_scales_beat_or_keep_the_bounds_scale_and_obey_every_rule() -> None:
    graph = testnets.dense_chain(sizes=(64, 48, 32), timesteps=10)
    rng = np.random.default_rng(0)
    calib, scored = rng.random((10, 256, 64)), rng.random((10, 64, 64))
    plain = compile_ir(graph, calibration=calib)
    tuned = compile_ir(graph, calibration=calib, scales="calibrated")
    assert [d for rule in LOIHI.rules() for d in rule(tuned)] == []
    ledger = tuned.metadata["loihi"]["ledger"]
    for name, entry in ledger.items():
        cal = entry["calibrated"]
        assert cal["mismatches"] <= cal["mismatches_unsearched"] and cal["decisions"] > 0
        assert tuned.node(name).threshold == entry["vth"] + cal["threshold_offset"]  # type: ignore[attr-defined]
    for row in tuned.metadata["loihi"]["overflow"]:  # overflow="avoid": no wrap is possible
        assert not row["u_wrap_possible"]
    assert "calibrated" not in next(iter(plain.metadata["loihi"]["ledger"].values()))
    # scored samples were never seen: the tuned compile is no worse on them than by chance of noise
    assert disagreement(graph, tuned, scored) <= 1.2 * disagreement(graph, plain, scored) + 20


@pytest.mark.parametrize("bits", [4, 6])
def test_fewer_weight_bits_give_coarser_weights(bits: int) -> None:
    q = compile_ir(testnets.dense_chain(sizes=(64, 48, 32), timesteps=10), weight_bits=bits)
    step = 2 ** (9 - bits)
    for pop in q.of_kind(LoihiLIF):
        for e in pop.inputs:
            w = q.node(e.src).weight  # type: ignore[attr-defined]
            assert np.all(w % step == 0) and np.abs(w).max() <= 256 - step and np.any(w)
