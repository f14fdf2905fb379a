"""The Loihi 2 resource plan: cores per layer from each per-core limit, the greedy placement, the chip budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import snncompile
import snncompile.nn as snn
from snncompile import ir
from snncompile.cli import cli
from snncompile.resources import layer_loads, loihi_plan, resource_report, summary_line
from snncompile.targets.loihi import testnets
from snncompile.targets.loihi.partition import LOIHI2_LIMITS, LayerLoad, place, plan
from snncompile.targets.loihi.rules import chip_budget

LIM = LOIHI2_LIMITS


def lif(name: str, src: str, shape: tuple[int, ...]) -> ir.LIF:
    """A population whose per-neuron arrays are broadcast views: big layers cost no memory (never simulated)."""
    return ir.LIF(name, (src,), name, decay=np.broadcast_to(np.float64(0.5), shape),
                  threshold=np.broadcast_to(np.float64(1.0), (1, *shape)))


def graph(*nodes: ir.Op) -> ir.Graph:
    g = ir.Graph(tuple(nodes), (nodes[-1].name,), {"timesteps": 2})
    ir.verify_or_raise(g)
    return g


def dense(name: str, src: str, n_out: int, n_in: int) -> ir.Dense:
    return ir.Dense(name, (src,), name, weight=np.ones((n_out, n_in)))


def conv(name: str, src: str, co: int, ci: int, k: int = 3, groups: int = 1, stride: int = 1) -> ir.Conv2d:
    return ir.Conv2d(name, (src,), name, weight=np.ones((co, ci // groups, k, k)), padding=(k // 2, k // 2),
                     groups=groups, stride=(stride, stride))


def rows(g: ir.Graph) -> dict[str, dict]:
    return {r["name"]: r for r in resource_report(g, "loihi")["layers"]}


# each limit binding in a crafted layer

def test_neurons_bind_a_wide_layer_of_cheap_synapses() -> None:
    g = graph(ir.Input("x", (), shape=(1, 128, 128)), conv("c", "x", 1, 1, k=1), lif("a", "c", (1, 128, 128)))
    row = rows(g)["a"]
    assert row["cores_by_limit"] == {"neurons": 2, "synapse_memory": 1, "fan_in": 4, "fan_out": 1}
    g = graph(ir.Input("x", (), shape=(1, 64, 64)), conv("c", "x", 5, 1, k=1), lif("a", "c", (5, 64, 64)))
    row = rows(g)["a"]  # 20,480 neurons (3 cores) reading 4,096 sources (one core's input axons)
    assert (row["binding"], row["cores"], row["cores_by_limit"]["fan_in"]) == ("neurons", 3, 1)


def test_synapse_memory_binds_a_dense_layer() -> None:
    g = graph(ir.Input("x", (), shape=(64,)), dense("fc", "x", 9000, 64), lif("a", "fc", (9000,)))
    row = rows(g)["a"]
    assert row["loihi_synapse_bytes"] == 9000 * 64  # one byte per 8-bit weight
    assert row["cores_by_limit"] == {"neurons": 2, "synapse_memory": 5, "fan_in": 1, "fan_out": 1}
    assert (row["binding"], row["cores"], row["core_range"], row["chips"]) == ("synapse_memory", 5, [0, 4], [0])


def test_conv_kernels_are_stored_once_not_per_position() -> None:
    g = graph(ir.Input("x", (), shape=(64, 16, 16)), conv("c", "x", 64, 64), lif("a", "c", (64, 16, 16)))
    row = rows(g)["a"]
    assert row["loihi_synapse_bytes"] == 64 * 64 * 9 and row["cores_by_limit"]["synapse_memory"] == 1
    assert row["loihi_synapse_bytes_dense"] == 64 * 16 * 16 * 64 * 9  # every connection, padding included
    assert row["fan_in"] == 64 * 9


def test_fan_in_beyond_the_input_axons_needs_input_slices() -> None:
    g = graph(ir.Input("x", (), shape=(5000,)), dense("fc", "x", 10, 5000), lif("a", "fc", (10,)))
    row = rows(g)["a"]
    assert (row["fan_in"], row["input_slices"], row["binding"], row["cores"]) == (5000, 2, "fan_in", 2)
    # the paper ResNets' 512-channel 3x3 convs: 4,608 inputs per neuron
    g = graph(ir.Input("x", (), shape=(512, 4, 4)), conv("c", "x", 512, 512), lif("a", "c", (512, 4, 4)))
    row = rows(g)["a"]
    assert (row["fan_in"], row["input_slices"], row["cores_by_limit"]["fan_in"]) == (4608, 2, 2)
    assert (row["binding"], row["cores"]) == ("synapse_memory", 18)  # 2,359,296 kernel bytes / 128 KiB


def test_fan_in_takes_the_larger_of_input_slices_and_local_sources() -> None:
    (lp,) = plan([LayerLoad("a", 100, 5000, 40960, 0)], LIM).layers
    assert (lp.input_slices, lp.cores_by_limit["fan_in"]) == (2, 10)
    (lp,) = plan([LayerLoad("a", 3 * 8192, 5000, 4096, 0)], LIM).layers
    assert (lp.input_slices, lp.cores_by_limit["fan_in"], lp.binding) == (2, 6, "fan_in")


def test_fan_in_of_a_local_layer_counts_every_source_once() -> None:
    g = graph(ir.Input("x", (), shape=(2, 128, 128)), conv("c", "x", 1, 2, k=1), lif("a", "c", (1, 128, 128)))
    row = rows(g)["a"]
    assert (row["binding"], row["cores"]) == ("fan_in", 8)  # 32,768 sources / 4,096 input axons


def test_fan_out_counts_destination_cores() -> None:
    g = graph(ir.Input("x", (), shape=(10,)), dense("fc1", "x", 6000, 10), lif("a", "fc1", (6000,)),
              dense("fc2", "a", 10, 6000), lif("b", "fc2", (10,)))
    r = rows(g)
    assert r["b"]["cores"] == 2  # two input slices
    assert (r["a"]["binding"], r["a"]["cores"]) == ("fan_out", 3)  # 6,000 neurons x 2 cores / 4,096


def test_a_conv_reader_costs_one_destination_per_channel_group() -> None:
    load = LayerLoad("a", 4096, 1, 0, 0, (("b", False),))
    reader = LayerLoad("b", 8192 * 10, 9, 4096, 3 * LIM.synaptic_memory_bytes)
    p = plan([load, reader], LIM)
    assert p.layers[1].cores == 10 and p.layers[1].cores_by_limit["synapse_memory"] == 3
    assert p.layers[0].cores_by_limit["fan_out"] == 3  # 4,096 neurons x 3 channel groups / 4,096
    dense_reader = plan([LayerLoad("a", 4096, 1, 0, 0, (("b", True),)), reader], LIM)
    assert dense_reader.layers[0].cores_by_limit["fan_out"] == 10


# placement

def test_place_keeps_a_layer_that_fits_a_chip_on_one_chip() -> None:
    assert place([100, 50, 30, 1], 128) == [(0, (0,)), (128, (1,)), (178, (1,)), (208, (1,))]
    assert place([100, 300, 2], 128) == [(0, (0,)), (100, (0, 1, 2, 3)), (400, (3,))]
    assert place([128, 128], 128) == [(0, (0,)), (128, (1,))]


def test_plan_totals_chips_and_boards() -> None:
    loads = [LayerLoad(f"l{i}", 8192 * 100, 1, 0, 0) for i in range(10)]
    p = plan(loads, LIM)
    assert (p.cores, p.chips, p.boards) == (1000, 10, 2)
    assert [lp.chips for lp in p.layers[:2]] == [(0,), (1,)] and p.layers[0].binding == "neurons"
    assert p.to_json()["binding_layers"] == {"neurons": 10}


def big_conv_net(channels: int, side: int = 1024) -> ir.Graph:
    return graph(ir.Input("x", (), shape=(1, side, side)), conv("c", "x", channels, 1),
                 lif("a", "c", (channels, side, side)))


def test_over_a_board_is_refused_with_the_numbers() -> None:
    g = big_conv_net(16)  # 16.8 M neurons: 2,048 cores
    (d,) = chip_budget(8)(g)
    assert d.code == "SNC641" and d.severity == "error"
    assert "needs 2,048 Loihi 2 cores on 16 chips" in d.message and "2 boards of 8 chips" in d.message
    assert "the chip budget is 8" in d.message and "--loihi-max-chips" in (d.hint or "")
    assert "%a: 2048 cores (neurons)" in d.message


def test_over_one_chip_is_a_warning_and_the_budget_can_be_raised() -> None:
    (d,) = chip_budget(16)(big_conv_net(16))
    assert (d.code, d.severity) == ("SNC640", "warning") and "16 chips" in d.message
    (d,) = chip_budget(8)(big_conv_net(8))  # 1,024 cores: exactly one board
    assert (d.code, d.severity) == ("SNC640", "warning") and "on 8 chips" in d.message


def test_one_chip_networks_pass_the_budget_silently() -> None:
    assert chip_budget(1)(testnets.conv_chain()) == [] and chip_budget(8)(testnets.residual_net()) == []
    assert loihi_plan(testnets.mlf_net()).chips == 1


# compile, report, manifest, CLI

def two_chip_model() -> nn.Module:
    """294,912 spiking neurons in a 1-channel-in conv: 145 cores, cheap to compile (never simulated here)."""
    torch.manual_seed(0)
    model = nn.Sequential(snn.TimeDistributed(nn.Conv2d(1, 8, 3, 1, 1, bias=False)), snn.LIF(0.5, 0.5),
                          snn.TimeDistributed(nn.Conv2d(8, 4, 8, 8, 0, bias=False)), snn.LIF(0.5, 0.5),
                          snn.TimeDistributed(nn.Flatten()), snn.TimeDistributed(nn.Linear(4 * 24 * 24, 10)),
                          snn.LIF(0.5, 0.5), snn.Readout(10, 3))
    model.input_shape, model.timesteps = (1, 192, 192), 2
    return model


EXPECTED = [("neurons", 36, "fan_in", 9, "fan_out", 72, [0, 71], [0]),
            ("neurons", 1, "fan_in", 72, "fan_in", 72, [128, 199], [1]),
            ("neurons", 1, "fan_in", 1, "neurons", 1, [200, 200], [1])]


@pytest.mark.parametrize("target", ["loihi", "onnx-loihi"])
def test_compile_warns_past_one_chip_and_reports_the_plan(target: str) -> None:
    result = snncompile.compile(two_chip_model(), target)
    (warn,) = [d for d in result.diagnostics if d.code == "SNC640"]
    assert "145 Loihi 2 cores on 2 chips" in warn.message
    resources = result.report["resources"]
    assert (resources["totals"]["cores"], resources["totals"]["chips"], resources["totals"]["boards"]) == (145, 2, 1)
    got = [("neurons", r["cores_by_limit"]["neurons"], "fan_in", r["cores_by_limit"]["fan_in"], r["binding"],
            r["cores"], r["core_range"], r["chips"]) for r in resources["layers"]]
    assert got == EXPECTED
    assert any(d["code"] == "SNC640" for d in result.report["diagnostics"])
    assert "~145 Loihi 2 cores on 2 chips (layers bound by fan_out 1, fan_in 1, neurons 1)" in \
        summary_line(resources)


def test_cli_compile_warns_writes_the_plan_and_refuses_past_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(two_chip_model(), path)
    out = tmp_path / "out"
    args = ["compile", str(path), "--trust-pickle", "--target", "loihi", "--no-check", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "warning[SNC640]" in result.output and "~145 Loihi 2 cores on 2 chips" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: manifest["resources"][k] for k in ("cores", "chips", "boards")} == {"cores": 145, "chips": 2,
                                                                                  "boards": 1}
    assert [la["chips"] for la in manifest["resources"]["layers"]] == [[0], [1], [1]]
    assert manifest["resources"]["limits"]["input_axons"] == LIM.input_axons
    report = json.loads((out / "report.json").read_text())
    assert report["resources"]["plan"]["chips"] == 2
    refused = tmp_path / "refused"
    result = CliRunner().invoke(cli, [*args[:-1], str(refused), "--loihi-max-chips", "1"])
    assert result.exit_code == 1 and "error[SNC641]" in result.output and "Traceback" not in result.output
    assert "145 Loihi 2 cores on 2 chips" in result.output and "the chip budget is 1" in result.output
    assert not refused.exists()


def test_a_scheduled_graph_is_planned_by_netx_layers_in_chain_order() -> None:
    from snncompile.passes import PassContext
    from snncompile.targets.loihi import LOIHI

    q = LOIHI.pipeline().run(testnets.mlf_net(), PassContext())[0]
    layers = q.metadata["loihi"]["layers"]
    report = resource_report(q, "loihi")
    assert [r["populations"] for r in report["layers"]] == [list(la) for la in layers]
    assert report["layers"][0]["populations"] == ["mlf0.level0", "mlf0.level1", "mlf0.level2"]
    assert [r["core_range"][0] for r in report["layers"]] == list(range(len(layers)))  # one core each, in order
    assert (report["totals"]["cores"], report["totals"]["chips"], report["totals"]["boards"]) == (len(layers), 1, 1)


def test_layer_loads_of_a_residual_net() -> None:
    """Golden: skips (identity, conv shortcut, dense skip) are readers of their source layer (its fan-out) and
    inputs of their target (its fan-in, local sources and synapse bytes)."""
    got = [(ld.name, ld.neurons, ld.fan_in, ld.local_sources, ld.synapse_bytes, ld.targets)
           for ld in layer_loads(testnets.residual_net())]
    assert got == [
        ("stem", 144, 18, 72, 72, (("b1.lif1", False), ("b1.lif2", False), ("b2.lif2", False))),
        ("b1.lif1", 144, 36, 144, 144, (("b1.lif2", False),)),
        ("b1.lif2", 144, 37, 288, 148, (("b2.lif1", False), ("b2.sc", False))),  # 4x3x3 conv + identity
        ("b2.lif1", 54, 36, 144, 216, (("b2.lif2", False),)),
        ("b2.sc", 54, 4, 144, 24, (("b2.lif2", False),)),
        ("b2.lif2", 54, 91, 252, 546, (("fc1", True), ("fc2", True))),  # conv2 54 + identity 1 + skip conv 36
        ("fc1", 12, 54, 0, 648, (("fc2", True),)),
        ("fc2", 12, 66, 0, 792, ()),
    ]
