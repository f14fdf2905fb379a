"""The nir target: parameter mapping (dt convention), graph structure, metadata, refusals and opt-ins."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
from torch import nn

import snncompile.nn as snn
from snncompile import ir
from snncompile.api import compile as compile_model
from snncompile.errors import CompileError
from snncompile.ir.ops_ext import LIFExt
from snncompile.sim import simulate
from snncompile.targets.nir.legalize import NirOptions, gain_to_weights
from snncompile.targets.nir.target import NirTarget


def test_lif_parameters_follow_the_euler_convention(nirkit, tmp_path) -> None:
    graph = nirkit.mlp()
    lif = graph.node("lif1")
    gained = graph.with_nodes([lif.replace(gain=np.linspace(0.5, 2, 20)) if n is lif else n for n in graph.nodes])
    _, path = nirkit.export(gained, tmp_path, dt=1e-3)
    node = nir.read(path).nodes["lif1"]
    assert isinstance(node, nir.LIF)
    np.testing.assert_allclose(node.tau, 1e-3 / (1 - 0.85))
    np.testing.assert_allclose(node.r, np.linspace(0.5, 2, 20) * node.tau / 1e-3)
    np.testing.assert_allclose(1 - 1e-3 / node.tau, 0.85, rtol=1e-14)
    assert np.all(node.v_leak == 0) and np.all(node.v_reset == 0) and np.all(node.v_threshold == 1.0)
    assert node.tau.shape == (20,) and node.metadata["comparison"] == ">" and node.metadata["origin"] == "net.lif1"


def test_if_cuba_and_no_reset_neurons(nirkit, tmp_path) -> None:
    _, path = nirkit.export(nirkit.mlp(decay=1.0), tmp_path / "if")
    node = nir.read(path).nodes["lif1"]
    assert isinstance(node, nir.IF) and np.allclose(node.r, 1e4)
    _, path = nirkit.export(nirkit.cuba(), tmp_path / "cuba")
    node = nir.read(path).nodes["l1"]
    assert isinstance(node, nir.CubaLIF)
    np.testing.assert_allclose(node.tau_syn, 1e-4 / 0.3)
    np.testing.assert_allclose(node.w_in, node.tau_syn / 1e-4)
    np.testing.assert_allclose(node.r, node.tau_mem / 1e-4)
    _, path = nirkit.export(nirkit.mlp(reset="none"), tmp_path / "none")
    g = nir.read(path)
    assert isinstance(g.nodes["lif1"], nir.LI) and isinstance(g.nodes["lif1.spikes"], nir.Threshold)
    assert ("lif1", "lif1.spikes") in g.edges and ("lif1.spikes", "fc2") in g.edges


def test_structure_delays_fan_in_flatten_and_grouped_conv(nirkit, tmp_path) -> None:
    nodes = []
    for n in nirkit.conv().nodes:
        if n.name == "c1":
            n = n.replace(weight=np.full((4, 1, 3, 3), 0.3), groups=2)
        if n.name == "p":
            n = n.replace(inputs=(ir.Edge("l1", 2),))
        nodes.append(n)
    grouped = ir.Graph(tuple(nodes), ("l2",), {"timesteps": 25})
    _, path = nirkit.export(grouped, tmp_path / "conv")
    read = nir.read(path)
    assert isinstance(read.nodes["p.delay0"], nir.Delay) and np.allclose(read.nodes["p.delay0"].delay, 2e-4)
    assert read.nodes["c1"].weight.shape == (4, 2, 3, 3) and read.nodes["c1"].groups == 1
    assert isinstance(read.nodes["c1"], nir.Conv2d)  # the conv stays structural: a kernel, not a dense matrix
    lif = next(n for n in grouped.nodes if n.name == "l1")
    assert lif.threshold.size == 1  # one value per layer in the IR, one per neuron in the NIR file
    assert read.nodes["l1"].v_threshold.shape == grouped.shapes["l1"]
    assert read.nodes["f"].start_dim == -3 and read.nodes["f"].end_dim == -1
    _, path = nirkit.export(nirkit.residual(), tmp_path / "res")
    edges = nir.read(path).edges
    assert sum(dst == "l3" for _, dst in edges) == 2  # the residual sum is two edges into l3


def test_graph_metadata_records_what_nir_cannot(nirkit, tmp_path) -> None:
    _, path = nirkit.export(nirkit.readout(), tmp_path, dt=5e-4)
    meta = nir.read(path).metadata
    assert meta["source"] == "snncompile" and float(meta["dt"]) == 5e-4 and int(meta["timesteps"]) == 25
    assert meta["comparison"] == ">" and meta["reset"] == "zero" and "head" in meta["readout"]
    assert meta["discretisation"] == "forward-euler" and "approximations" not in meta


def _codes(exc: pytest.ExceptionInfo[CompileError]) -> list[str]:
    return sorted(exc.value.codes)


def test_refusals_collect_every_problem(nirkit, tmp_path) -> None:
    g = nirkit.mlp(reset="subtract", comparison=">=")
    with pytest.raises(CompileError) as exc:
        nirkit.export(g, tmp_path)
    assert _codes(exc) == ["SNC801", "SNC801", "SNC802", "SNC802"]
    bad = nirkit.mlp(decay=1.5)
    with pytest.raises(CompileError) as exc:
        nirkit.export(bad, tmp_path)
    assert _codes(exc) == ["SNC803"]
    delayed = nirkit.cuba().with_nodes([n.replace(reset_timing="delayed") if isinstance(n, LIFExt) else n
                                        for n in nirkit.cuba().nodes])
    with pytest.raises(CompileError, match="reset_timing"):
        nirkit.export(delayed, tmp_path)


def test_memoryless_neurons_export_exactly_whatever_their_reset(nirkit, tmp_path) -> None:
    g = nirkit.mlp(decay=0.0, decay2=0.0, reset="subtract")
    compiled, path = nirkit.export(g, tmp_path)
    x = nirkit.spikes((12,))
    from snncompile.frontend.nir.reader import read_nir

    back = read_nir(path).graph
    assert np.array_equal(simulate(back, x).output, simulate(compiled, x).output)


def test_opt_in_approximations_are_warned_and_recorded(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(6, 5), snn.LIF(decay=0.5, reset="subtract"), nn.Linear(5, 3), snn.S2NN())
    model.input_shape, model.timesteps = (6,), 4
    with pytest.raises(CompileError) as exc:
        compile_model(model, "nir", tmp_path / "refused")
    assert _codes(exc) == ["SNC801", "SNC802"]
    result = compile_model(model, "nir", tmp_path / "out", options={"allow": {"reset", "non-strict"}})
    assert sorted(d.code for d in result.diagnostics if d.code.startswith("SNC8")) == ["SNC805", "SNC805"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(report["nir"]["approximations"]) == 2 and report["nir"]["allow"] == ["non-strict", "reset"]
    assert "subtraction" in nir.read(tmp_path / "out" / "model.nir").metadata["approximations"]


def test_maxpool_of_spikes_becomes_an_exact_or_population(nirkit, tmp_path) -> None:
    g = nirkit.conv()
    nodes = [ir.MaxPool2d("p", ("l1",), kernel=(3, 3), stride=(2, 2), padding=(1, 1)) if n.name == "p" else n
             for n in g.nodes]
    pooled = ir.Graph(tuple(nodes), g.outputs, g.metadata)
    dense = pooled.node("d")
    pooled = pooled.with_nodes([dense.replace(weight=np.resize(dense.weight, (6, 64))) if n is dense else n
                                for n in pooled.nodes])
    compiled, path = nirkit.export(pooled, tmp_path)
    x = nirkit.spikes((2, 8, 8))
    assert np.array_equal(simulate(compiled, x).output, simulate(pooled, x).output)
    assert isinstance(nir.read(path).nodes["p.or"], nir.SumPool2d)
    currents = pooled.with_nodes([ir.MaxPool2d("p", ("c1",)) if n.name == "p" else n for n in pooled.nodes])
    with pytest.raises(CompileError, match="not of binary spikes"):
        nirkit.export(currents, tmp_path / "bad")


def test_gain_to_weights_is_exact(nirkit) -> None:
    g = nirkit.conv(pool="sum")
    moved, problems = gain_to_weights(g)
    assert not problems and all(np.allclose(n.gain, 1 - n.decay) for n in moved.of_kind(ir.LIF))
    x = nirkit.spikes((2, 8, 8))
    assert np.array_equal(simulate(moved, x).output, simulate(g, x).output)
    g = nirkit.mlp()
    other = g.node("lif1").replace(name="lif1b", decay=np.full(20, 0.5))  # shares fc1 with another factor
    _, problems = gain_to_weights(g.with_nodes([*g.nodes, other]))
    assert [d.code for d in problems] == ["SNC804"]


def test_invalid_options_are_refused() -> None:
    with pytest.raises(CompileError) as exc:
        NirTarget(NirOptions(dt=-1.0, allow=frozenset({"everything"}), input_gain="x"))
    assert _codes(exc) == ["SNC806", "SNC806", "SNC806"]
