"""ONNX step export of whole models: the shipped examples, a 28×28 conv net's size, refusals, reader errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from snncompile import api, ir
from snncompile.errors import CompileError
from snncompile.frontend.onnx.reader import read_onnx
from snncompile.ir.traits import float_neurons
from snncompile.targets.loihi import testnets
from snncompile.targets.onnx.driver import run_onnx
from snncompile.targets.onnx.export import export_step
from snncompile.verification.compare import simulate_with_margin

torch.set_num_threads(1)
EXAMPLES = sorted((Path(__file__).parents[3] / "examples" / "models").glob("*.pt"))
MARGIN = 1e-9


def assert_reproduces(graph: ir.Graph, model: onnx.ModelProto | Path, x: np.ndarray) -> None:
    (ref, margin), got = simulate_with_margin(graph, x), run_onnx(model, x)
    assert margin > MARGIN
    for n in float_neurons(graph):
        np.testing.assert_array_equal(got[n.name], ref[n.name], err_msg=n.name)
    for name in graph.outputs:
        np.testing.assert_allclose(got[name], ref[name], rtol=0, atol=1e-12)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_models_export_run_and_round_trip(path: Path, tmp_path: Path) -> None:
    result = api.compile(path, "onnx", tmp_path / "out")
    (file,) = [p for p in result.files if p.suffix == ".onnx"]
    graph = result.graph
    x = np.random.default_rng(0).random((graph.timesteps, 2, *graph.nodes[0].shape))
    assert_reproduces(graph, file, x)
    assert export_step(read_onnx(file)).SerializeToString() == file.read_bytes()


def test_large_conv_net_stays_small() -> None:
    """A 28×28 conv net: the step model holds kernels (not im2col or unrolled matrices), so it is about the
    size of its per-neuron parameters; unrolled conv matrices would take 784·6272 + 1568·3136 doubles (78 MB)."""
    b = testnets.Builder((1, 28, 28), seed=11, timesteps=6)
    a = b.lif("lif0", [b.conv("conv0", "input", 8, 3, gain=2.0, bias=0.2)], theta=0.4)
    a = b.lif("lif1", [b.conv("conv1", b.maxpool("max1", a), 16, 3, gain=2.5)], theta=0.4, reset="subtract")
    a = b.lif("lif2", [b.dense("fc2", b.pool("pool2", a), 10, gain=3.0)], theta=0.3)
    graph = b.readout(a)
    model = export_step(graph)
    params = sum(np.size(v) for n in graph.nodes for v in vars(n).values() if isinstance(v, np.ndarray))
    assert model.ByteSize() < 8 * params + 100_000 < 1_000_000
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    assert inits["lif0.decay"] == [1, 1, 1] and inits["lif0.threshold"] == [1, 1, 1, 1, 1]  # one value per layer
    assert_reproduces(graph, model, np.random.default_rng(3).random((6, 2, 1, 28, 28)))
    assert export_step(read_onnx(model)).SerializeToString() == model.SerializeToString()


def test_export_refuses_ops_without_step_form() -> None:
    graph = testnets.dense_chain(timesteps=4)
    nodes = [ir.Identity("fc0.id", (ir.Edge("fc0"),), "fc0") if n.name == "lif0" else n for n in graph.nodes]
    lif0 = graph.node("lif0").replace(inputs=(ir.Edge("fc0.id"),))
    graph = graph.with_nodes([*nodes, lif0])
    with pytest.raises(CompileError, match=r"fc0\.id") as info:
        export_step(graph)
    assert info.value.codes == ["SNC950"]


def test_reader_names_every_unsupported_node() -> None:
    model = export_step(testnets.dense_chain(timesteps=4))
    model.graph.node.append(helper.make_node("Relu", ["lif1"], ["r"], name="my_relu"))
    model.graph.node.append(helper.make_node("Softmax", ["r"], ["p"], name="my_softmax"))
    with pytest.raises(CompileError, match="my_relu") as info:
        read_onnx(model)
    assert info.value.codes == ["SNC951", "SNC951"]
    assert "ai.onnx.Softmax" in str(info.value)


def test_compile_traced_model_for_onnx_target(tmp_path: Path) -> None:
    from torch import nn

    from snncompile import nn as snn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), snn.LIF(), nn.Linear(8, 3))
    result = api.compile(model, "onnx", tmp_path, input_shape=(12,), timesteps=8)
    path = next(p for p in result.files if str(p).endswith("model.onnx"))
    assert_reproduces(result.graph, path, np.random.default_rng(2).random((8, 2, 12)) * 2)
