"""quantize="loihi": the Loihi-quantized network written as NIR in real units (integer · ledger scale); the
integers are recoverable from the file, and on binary input it spikes like Lava's bit-exact integer model."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch
from torch import nn

import snncompile.nn as snn
from snncompile import ir
from snncompile.api import compile as compile_model
from snncompile.frontend.nir.reader import read_nir
from snncompile.sim import simulate
from snncompile.targets import TARGETS

pytestmark = pytest.mark.skipif("loihi" not in TARGETS, reason="the loihi target is not registered")


def model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 30), snn.LIF(decay=0.9, v_th=1.0), nn.Linear(30, 10),
                        snn.LIF(decay=0.75, v_th=0.5))
    with torch.no_grad():
        net[0].weight.mul_(3)
        net[2].weight.mul_(3)
    net.input_shape, net.timesteps = (20,), 25
    return net


def test_quantized_export_matches_the_integer_model(tmp_path) -> None:
    from snncompile.targets.loihi import LoihiOptions, simulate_loihi

    x = (np.random.default_rng(0).random((25, 16, 20)) < 0.3).astype(np.float64)
    loihi = compile_model(model(), "loihi", options={"calibration": x})
    compile_model(model(), "nir", tmp_path / "q", options={"quantize": "loihi", "loihi": LoihiOptions(calibration=x)})
    path = tmp_path / "q" / "model.nir"
    graph = nir.read(path)
    quant = json.loads(graph.metadata["quantization"])
    assert quant["target"] == "loihi"
    assert set(quant["ledger"]) == {n.name for n in loihi.graph.nodes if n.kind == "loihi_lif"}
    assert "float64 values" in graph.metadata["number_format"]
    integer = simulate_loihi(loihi.graph, x, pipelined=False)
    exported = simulate(read_nir(path).graph, x)
    for lif in loihi.graph.nodes:
        if lif.kind == "loihi_lif":
            assert int(np.sum(exported[lif.name] != integer[lif.name])) == 0, lif.name
            meta = graph.nodes[lif.name].metadata
            assert meta["loihi_v_threshold"] == lif.threshold and meta["loihi_v_decay"] == lif.v_decay
            syn = graph.nodes[lif.inputs[0].src]
            step = graph.nodes[lif.name].v_threshold / meta["loihi_v_threshold"]
            recovered = syn.weight / step[:, None]
            np.testing.assert_allclose(recovered, np.round(recovered), atol=1e-9)  # integers, per the recipe
            np.testing.assert_array_equal(np.round(recovered), loihi.graph.node(lif.inputs[0].src).weight)


def test_quantized_mode_reads_back_as_plain_float_ir(tmp_path) -> None:
    result = compile_model(model(), "nir", tmp_path / "q", options={"quantize": "loihi"})
    assert {n.kind for n in result.graph.nodes} == {"input", "dense", "lif"}
    assert all(isinstance(n, ir.LIF) and n.gain is None for n in read_nir(tmp_path / "q" / "model.nir").graph
               .of_kind(ir.LIF))
