"""ONNX step export: spikes equal to the float simulator, checker, round trip, for every op and edge form."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from snncompile import ir
from snncompile.frontend.onnx.reader import read_onnx
from snncompile.ir.ops_ext import LIFExt
from snncompile.ir.traits import float_neurons
from snncompile.targets.loihi import testnets
from snncompile.targets.onnx.driver import run_onnx
from snncompile.targets.onnx.export import export_step
from snncompile.verification.compare import simulate_with_margin

torch.set_num_threads(1)
STEPS = 24
MARGIN = 1e-9  # relative distance of every spike decision from its threshold: far beyond float64 rounding


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


def delayed_net() -> ir.Graph:
    """residual_net with delayed edges: from the input (1), on a skip (2), two taps of one line (1 and 3),
    into the readout (2)."""
    graph = testnets.residual_net(timesteps=STEPS)
    delays = {("stem.conv", "input"): 1, ("b1.lif2", "b1.id"): 2, ("fc2", "fc2.skip"): 3, ("b2.lif2", "b2.skip"): 1,
              ("fc1.syn.flat", "b2.lif2"): 1, ("fc2.skip.flat", "b2.lif2"): 3, ("readout", "fc2"): 2}
    nodes = [n.replace(inputs=tuple(ir.Edge(e.src, delays.get((n.name, e.src), 0)) for e in n.inputs))
             for n in graph.nodes]
    return graph.with_nodes(nodes)


def lif_ext_net() -> ir.Graph:
    """ir.LIFExt in every reset timing, with and without synaptic current and gain, both comparisons."""
    b = testnets.Builder((20,), seed=7, timesteps=STEPS)
    variants = [dict(reset="subtract", reset_timing="immediate", comparison=">=", syn=0.5, gain=0.8),
                dict(reset="subtract", reset_timing="delayed", comparison=">", syn=None, gain=None),
                dict(reset="zero", reset_timing="delayed", comparison=">=", syn=0.75, gain=None),
                dict(reset="subtract", reset_timing="double", comparison=">", syn=None, gain=1.3),
                dict(reset="none", reset_timing="immediate", comparison=">", syn=0.25, gain=None)]
    src = "input"
    for i, v in enumerate(variants):
        syns = [b.dense(f"fc{i}", src, 16, gain=2.0, bias=0.3)] + ([b.dense(f"skip{i}", "input", 16)] if i else [])
        shape = (16,)
        syn, gain = v.pop("syn"), v.pop("gain")
        node = LIFExt(f"ext{i}", tuple(ir.Edge(s) for s in syns), f"ext{i}", decay=np.linspace(0.1, 0.9, 16),
                      threshold=np.linspace(0.3, 1.2, 16), syn_decay=None if syn is None else np.full(shape, syn),
                      gain=None if gain is None else np.full(shape, gain), **v)  # type: ignore[arg-type]
        src = b._add(node, shape)
    return b.readout(src)


def cuba_delayed() -> ir.Graph:
    graph = testnets.cuba_net(timesteps=STEPS)
    nodes = [n.replace(inputs=(ir.Edge(n.inputs[0].src, 2), *n.inputs[1:])) if n.name == "cuba2" else n
             for n in graph.nodes]
    return graph.with_nodes(nodes)


NETS = {
    "dense": lambda: with_gain(testnets.dense_chain(timesteps=STEPS)),
    "conv": conv_net,
    "maxpool": lambda: testnets.conv_chain(timesteps=STEPS),
    "residual": lambda: testnets.residual_net(timesteps=STEPS),
    "mlf": lambda: testnets.mlf_net(timesteps=STEPS),
    "delays": delayed_net,
    "lif_ext": lif_ext_net,
    "cuba_delayed": cuba_delayed,
}


@pytest.fixture(scope="module", params=sorted(NETS))
def exported(request: pytest.FixtureRequest) -> tuple[ir.Graph, onnx.ModelProto]:
    graph = NETS[request.param]()
    return graph, export_step(graph)


def test_spikes_match_float_simulator(exported: tuple[ir.Graph, onnx.ModelProto]) -> None:
    graph, model = exported
    x = np.random.default_rng(1).random((STEPS, 3, *graph.nodes[0].shape)) * 1.5
    (ref, margin), got = simulate_with_margin(graph, x), run_onnx(model, x)
    assert margin > MARGIN  # so the equality below is not a lucky rounding: no decision is a near-tie
    neurons = float_neurons(graph)
    assert neurons
    for n in neurons:
        assert ref[n.name].any() and not ref[n.name].all(), n.name
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
    assert [[(e.src, e.delay) for e in n.inputs] for n in back.nodes] == \
        [[(e.src, e.delay) for e in n.inputs] for n in graph.nodes]
    assert export_step(back).SerializeToString() == model.SerializeToString()


def test_delay_lines_are_explicit_state() -> None:
    model = export_step(delayed_net())
    inputs = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert inputs["delay:input"] == [1, "batch", 2, 6, 6]
    assert inputs["delay:b2.lif2"] == [3, "batch", 6, 3, 3]  # one line, taps at 1 and 3
    assert {o.name for o in model.graph.output} >= {"delay_next:input", "delay_next:b2.lif2", "delay_next:fc2"}
    taps = sorted(n.output[0] for n in model.graph.node if n.op_type == "Gather")
    assert taps == ["b1.id@2", "b2.lif2@1", "b2.lif2@3", "b2.skip@1", "fc2.skip@3", "fc2@2", "input@1"]
