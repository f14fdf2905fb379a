"""ONNX step export: spikes equal to the float simulator, checker, round trip, reader errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from snncompile import ir
from snncompile.errors import CompileError
from snncompile.frontend.onnx_reader import read_onnx
from snncompile.onnx_driver import run_onnx
from snncompile.sim import simulate
from snncompile.targets.loihi import testnets
from snncompile.targets.onnx_export import export_step

torch.set_num_threads(1)
STEPS = 24


def conv_net() -> ir.Graph:
    """Conv with stride/padding/dilation/groups, sum and average pooling, flatten, dense, gain, subtract reset."""
    b = testnets.Builder((2, 9, 7), seed=5, timesteps=STEPS)
    a = b.lif("lif0", [b.conv("conv0", "input", 4, 3, stride=(1, 2), padding=(1, 0), gain=2.0, bias=0.2)])
    a = b.lif("lif1", [b.conv("conv1", a, 6, 3, stride=(2, 1), padding=(0, 2), dilation=(2, 1), groups=2,
                              gain=2.0, bias=0.1)], reset="subtract")
    a = b.lif("lif2", [b.pool("pool2", a, 2, "sum")], theta=1.5, comparison=">=")
    a = b.lif("lif3", [b.pool("pool3", b.lif("lif2b", [b.conv("conv2b", "input", 4, 3, gain=2.0)]), 2)],
              theta=0.3, reset="none")
    a = b.lif("lif4", [b.dense("fc4", "lif2", 10, gain=2.0), b.dense("fc4b", a, 10, gain=2.0)])
    return b.readout(a)


def with_gain(graph: ir.Graph) -> ir.Graph:
    nodes = [n.replace(gain=np.linspace(0.5, 1.5, n.decay.size).reshape(n.decay.shape))
             if isinstance(n, ir.LIF) and n.name == "lif0" else n for n in graph.nodes]
    return graph.with_nodes(nodes)


NETS = {
    "dense": lambda: with_gain(testnets.dense_chain(timesteps=STEPS)),
    "conv": conv_net,
    "residual": lambda: testnets.residual_net(timesteps=STEPS),
    "mlf": lambda: testnets.mlf_net(timesteps=STEPS),
}


@pytest.fixture(scope="module", params=sorted(NETS))
def exported(request: pytest.FixtureRequest) -> tuple[ir.Graph, onnx.ModelProto]:
    graph = NETS[request.param]()
    return graph, export_step(graph)


def test_spikes_match_float_simulator(exported: tuple[ir.Graph, onnx.ModelProto]) -> None:
    graph, model = exported
    x = np.random.default_rng(1).random((STEPS, 2, *graph.nodes[0].shape)) * 1.5
    ref, got = simulate(graph, x), run_onnx(model, x)
    lifs = graph.of_kind(ir.LIF)
    assert lifs
    for n in lifs:
        assert 0 < ref[n.name].mean() < 1 or n.levels > 1 or ref[n.name].any()
        np.testing.assert_array_equal(got[n.name], ref[n.name], err_msg=n.name)
    np.testing.assert_allclose(got["readout"], ref["readout"], rtol=0, atol=1e-12)


def test_checker_and_neuron_functions(exported: tuple[ir.Graph, onnx.ModelProto]) -> None:
    _, model = exported
    onnx.checker.check_model(model, full_check=True)
    assert all(f.domain == "snncompile" for f in model.functions)
    assert all(n.domain == "" for f in model.functions for n in f.node)  # standard operators only


def test_round_trip_is_stable(exported: tuple[ir.Graph, onnx.ModelProto]) -> None:
    graph, model = exported
    back = read_onnx(model)
    assert ir.print_graph(back) == ir.print_graph(graph)
    assert export_step(back).SerializeToString() == model.SerializeToString()


def test_reader_names_unsupported_node() -> None:
    model = export_step(testnets.dense_chain(timesteps=STEPS))
    model.graph.node.append(helper.make_node("Relu", ["lif1"], ["r"], name="my_relu"))
    with pytest.raises(CompileError, match="my_relu") as info:
        read_onnx(model)
    assert info.value.codes == ["SNC951"]


def test_export_refuses_delays_and_unknown_ops() -> None:
    with pytest.raises(CompileError) as info:
        export_step(testnets.conv_chain())  # max pooling
    assert info.value.codes == ["SNC950"]


def test_compile_traced_model_for_onnx_target(tmp_path: object) -> None:
    from torch import nn

    from snncompile import api
    from snncompile import nn as snn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), snn.LIF(), nn.Linear(8, 3))
    result = api.compile(model, "onnx", tmp_path, input_shape=(12,), timesteps=STEPS)  # type: ignore[arg-type]
    path = next(p for p in result.files if str(p).endswith("model.onnx"))  # type: ignore[attr-defined]
    x = np.random.default_rng(2).random((STEPS, 2, 12)) * 2
    ref, got = simulate(result.graph, x), run_onnx(path, x)  # type: ignore[attr-defined]
    for n in result.graph.of_kind(ir.LIF):  # type: ignore[attr-defined]
        np.testing.assert_array_equal(got[n.name], ref[n.name])
