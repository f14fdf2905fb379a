"""Resource and cost report: counts, weight memory, Loihi 2 core estimate, SynOps and energy arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

import snncompile
from snncompile import ir
from snncompile.resources import LOIHI1_ENERGY, LOIHI2_LIMITS, resource_report, summary_line


def dense_net(hidden: int = 32) -> ir.Graph:
    """input 64 -> dense -> LIF(hidden) -> dense -> LIF(10) -> readout."""
    rng = np.random.default_rng(0)
    nodes = [
        ir.Input("x", (), shape=(64,)),
        ir.Dense("fc1", ("x",), "fc1", weight=rng.normal(size=(hidden, 64)), bias=None),
        ir.LIF("lif1", ("fc1",), "lif1", decay=np.full(hidden, 0.5), threshold=np.ones((1, hidden))),
        ir.Dense("fc2", ("lif1",), "fc2", weight=rng.normal(size=(10, hidden)), bias=None),
        ir.LIF("lif2", ("fc2",), "lif2", decay=np.full(10, 0.5), threshold=np.ones((1, 10))),
        ir.Readout("out", ("lif2",), "head", weight=rng.normal(size=(3, 10)), bias=None),
    ]
    return ir.Graph(tuple(nodes), ("out",), {"timesteps": 5})


def test_counts_memory_and_cores_per_layer() -> None:
    report = resource_report(dense_net(), "loihi")
    rows = {r["name"]: r for r in report["layers"]}
    assert rows["lif1"]["neurons"] == 32 and rows["lif1"]["synapses"] == 64 * 32
    assert rows["lif2"]["synapses"] == 320 and rows["lif2"]["weight_bytes"] == 320  # 8-bit weights
    totals = report["totals"]
    assert (totals["neurons"], totals["cores"], totals["chips"]) == (42, 2, 1)
    assert report["assumptions"]["core_limits"]["neurons_per_core"] == LOIHI2_LIMITS.neurons_per_core
    assert "Davies" in report["assumptions"]["energy"]["source"]


def test_float_target_memory_is_float64_but_cores_assume_loihi_weights() -> None:
    sim, loihi = resource_report(dense_net(), "sim"), resource_report(dense_net(), "loihi")
    assert sim["totals"]["weight_bytes"] == 8 * loihi["totals"]["weight_bytes"]
    assert sim["totals"]["cores"] == loihi["totals"]["cores"]


def test_a_layer_past_the_per_core_limits_needs_more_cores() -> None:
    big = resource_report(dense_net(hidden=9000), "loihi")
    rows = {r["name"]: r for r in big["layers"]}
    assert rows["lif2"]["input_slices"] == 3 and rows["lif2"]["cores"] == 3  # 9,000 inputs per neuron
    # 9,000 neurons each sending to lif2's 3 cores: 27,000 output axons over 4,096 per core
    assert rows["lif1"]["cores_by_limit"] == {"neurons": 2, "synapse_memory": -(-9000 * 64 // LOIHI2_LIMITS.
                                                                                   synaptic_memory_bytes),
                                              "fan_in": 1, "fan_out": 7}
    assert (rows["lif1"]["binding"], big["totals"]["cores"], big["totals"]["chips"]) == ("fan_out", 10, 1)


def test_synops_and_energy_from_rates() -> None:
    graph = dense_net()
    upper = resource_report(graph, "loihi")["totals"]
    assert upper["synops_per_inference"] == 5 * (64 * 32 + 320)
    assert upper["synops_basis"].startswith("upper bound")
    measured = resource_report(graph, "loihi", rates={"x": 0.5, "lif1": 0.1, "lif2": 0.3})["totals"]
    synops = 5 * (0.5 * 64 * 32 + 0.1 * 320)
    assert measured["synops_per_inference"] == pytest.approx(synops)
    assert measured["neuron_updates_per_inference"] == 42 * 5
    energy = measured["energy_uj_per_inference"]
    assert energy["synaptic"] == pytest.approx(synops * LOIHI1_ENERGY.synop_pj * 1e-6)
    assert energy["total"] == pytest.approx(energy["synaptic"] + 42 * 5 * LOIHI1_ENERGY.neuron_update_pj * 1e-6)
    partial = resource_report(graph, "loihi", rates={"lif1": 0.1})["totals"]
    assert "assumed firing at every step: x" in partial["synops_basis"]
    line = summary_line(resource_report(graph, "loihi"))
    assert line.startswith("resources: 42 neurons, 2,368 synapses") and "upper bound" in line


def test_every_compile_report_has_resources() -> None:
    result = snncompile.compile(dense_net_module(), "sim")
    resources = result.report["resources"]
    assert resources["totals"]["neurons"] == 12 and resources["layers"][0]["synapses"] == 16 * 12


def dense_net_module() -> object:
    from torch import nn

    import snncompile.nn as snn

    model = nn.Sequential(snn.TimeDistributed(nn.Linear(16, 12)), snn.LIF(), snn.Readout(12, 3))
    model.input_shape, model.timesteps = (16,), 2
    return model
