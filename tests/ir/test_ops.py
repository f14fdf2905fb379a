"""IR nodes and graphs are immutable values; shape inference matches torch; the op registry is complete."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snncompile import ir
from snncompile.ir.graph import topological_sort


def dense(name: str = "fc", src: str = "input") -> ir.Dense:
    return ir.Dense(name, (src,), weight=np.ones((2, 3)), bias=np.zeros(2))


def test_assigning_a_field_raises() -> None:
    node = dense()
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.weight = np.zeros((2, 3))  # type: ignore[misc]


def test_arrays_are_read_only_float64_copies() -> None:
    source = np.ones((2, 3), dtype=np.int32)
    node = ir.Dense("fc", ("input",), weight=source)
    assert node.weight.dtype == np.float64 and not node.weight.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        node.weight[0, 0] = 5.0
    source[0, 0] = 7  # the node holds its own copy
    assert node.weight[0, 0] == 1.0
    assert node.bias is None  # optional arrays stay None


def test_inputs_become_edges() -> None:
    node = ir.Add("add", ("a", ir.Edge("b", 2)))
    assert node.inputs == (ir.Edge("a", 0), ir.Edge("b", 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.inputs[0].delay = 1  # type: ignore[misc]


def test_replace_makes_a_new_node_and_keeps_the_old() -> None:
    node = dense()
    other = node.replace(name="fc2")
    assert other is not node and other.name == "fc2" and node.name == "fc"
    assert np.array_equal(other.weight, node.weight) and not other.weight.flags.writeable
    assert node != dense()  # nodes compare by identity


def test_graph_is_immutable() -> None:
    graph = ir.Graph((ir.Input("input", (), shape=(3,)), dense()), ("fc",), {"timesteps": 4})
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.outputs = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        graph.metadata["timesteps"] = 5  # type: ignore[index]
    assert isinstance(graph.nodes, tuple) and graph.timesteps == 4


def test_graph_lookups() -> None:
    nodes = (ir.Input("input", (), shape=(3,)), dense(), ir.LIF("lif", ("fc", "fc"), decay=np.zeros(2),
                                                                  threshold=np.ones((1, 2))))
    graph = ir.Graph(nodes, ("lif",))
    assert "fc" in graph and "nope" not in graph and len(graph) == 3
    assert graph.node("fc") is nodes[1]
    assert [n.name for n in graph.consumers("fc")] == ["lif", "lif"]
    assert graph.consumers("lif") == ()
    assert dict(graph.shapes) == {"input": (3,), "fc": (2,), "lif": (2,)}
    assert graph.of_kind(ir.LIF) == [nodes[2]]
    assert graph.timesteps is None


def test_with_nodes_sorts_topologically_and_keeps_objects() -> None:
    inp, fc = ir.Input("input", (), shape=(3,)), dense()
    lif = ir.LIF("lif", ("fc",), decay=np.zeros(2), threshold=np.ones((1, 2)))
    graph = ir.Graph((inp, fc, lif), ("lif",), {"timesteps": 2})
    shuffled = graph.with_nodes([lif, fc, inp])
    assert [n.name for n in shuffled] == ["input", "fc", "lif"]
    assert shuffled.nodes[1] is fc and shuffled.timesteps == 2
    assert graph.with_nodes(graph.nodes, timesteps=8).timesteps == 8


def test_topological_sort_leaves_cycles_at_the_end() -> None:
    a = ir.Identity("a", ("b",))
    b = ir.Identity("b", ("a",))
    c = ir.Identity("c", (ir.Edge("c", 1),))  # a delayed self-loop is not a zero-delay cycle
    inp = ir.Input("input", (), shape=(1,))
    assert [n.name for n in topological_sort((a, b, inp, c))] == ["input", "c", "a", "b"]


@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation", "groups"), [
    ((3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((3, 2), (2, 1), (0, 1), (1, 2), 1),
    ((1, 1), (3, 3), (0, 0), (1, 1), 2),
    ((5, 5), (2, 2), (2, 2), (1, 1), 4),
])
def test_conv_shape_matches_torch(kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                                  dilation: tuple[int, int], groups: int) -> None:
    w = np.zeros((8, 4 // groups, *kernel))
    node = ir.Conv2d("c", ("x",), weight=w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = F.conv2d(torch.zeros(1, 4, 9, 7), torch.zeros(w.shape), None, stride, padding, dilation, groups)
    assert node.infer_shape([(4, 9, 7)]) == tuple(y.shape[1:])


def test_pool_shapes_match_torch() -> None:
    avg = ir.Pool2d("p", ("x",), kernel=(3, 2), stride=(2, 1), padding=(1, 1))
    y = F.avg_pool2d(torch.zeros(1, 2, 7, 5), (3, 2), (2, 1), (1, 1))
    assert avg.infer_shape([(2, 7, 5)]) == tuple(y.shape[1:])
    mx = ir.MaxPool2d("m", ("x",), kernel=(3, 3), stride=(1, 2), padding=(1, 0), dilation=(2, 1))
    y = F.max_pool2d(torch.zeros(1, 2, 7, 5), (3, 3), (1, 2), (1, 0), (2, 1))
    assert mx.infer_shape([(2, 7, 5)]) == tuple(y.shape[1:])


@pytest.mark.parametrize(("node", "shapes"), [
    (ir.Dense("d", ("x",), weight=np.ones((2, 3))), [(4,)]),
    (ir.Dense("d", ("x",), weight=np.ones((2, 3))), [(3, 1)]),
    (ir.Conv2d("c", ("x",), weight=np.ones((2, 3, 3, 3))), [(2, 5, 5)]),
    (ir.Conv2d("c", ("x",), weight=np.ones((2, 3, 3, 3))), [(3, 2, 2)]),
    (ir.Pool2d("p", ("x",), kernel=(2, 2), padding=(2, 2)), [(1, 4, 4)]),
    (ir.Add("a", ("x", "y")), [(2,), (3,)]),
    (ir.LIF("l", ("x",), decay=np.zeros(3), threshold=np.arange(1.0, 3.0).reshape(1, 2)), [(3,)]),
    (ir.LIF("l", ("x",), decay=np.arange(3.0), threshold=np.ones((1, 1, 1, 1))), [(3, 2, 2)]),
    (ir.LIF("l", ("x", "y"), decay=np.zeros(3), threshold=np.ones((1, 3))), [(3,), (2,)]),
    (ir.BatchNorm("b", ("x",), mean=np.zeros(2), var=np.ones(2), weight=np.ones(2), bias=np.zeros(2)), [(3, 4)]),
    (ir.MPBNLIF("m", ("x",), decay=np.zeros((2, 3)), mean=np.zeros((2, 3, 1)), var=np.ones(2),
                weight=np.ones(2), bias=np.zeros(2)), [(2, 3)]),
    (ir.Readout("r", ("x",), weight=np.ones((2, 3))), [(3, 1)]),
])
def test_shape_errors(node: ir.Op, shapes: list[ir.Shape]) -> None:
    with pytest.raises(ir.ShapeError):
        node.infer_shape(shapes)


def test_op_registry_names_every_kind_once() -> None:
    backbone = {"input", "dense", "conv2d", "pool2d", "maxpool2d", "flatten", "add", "identity", "lif",
                "mpbn_lif", "readout", "batchnorm", "pspnorm"}
    assert backbone <= set(ir.OP_REGISTRY)
    for kind, cls in ir.OP_REGISTRY.items():
        assert cls.kind == kind and issubclass(cls, ir.Op)
    with pytest.raises(TypeError, match="defined twice"):
        @dataclasses.dataclass(frozen=True, eq=False)
        class Dense(ir.Op):  # a different class claiming an existing kind
            kind: ClassVar[str] = "add"


def test_summary_shows_shapes_not_values() -> None:
    node = ir.Dense("fc", ("x",), weight=np.full((2, 3), 123.456), bias=np.array([7.0, 8.0]))
    assert node.summary() == "weight:[2,3], bias:[2]"
    lif = ir.LIF("l", ("x",), decay=np.arange(3.0), threshold=np.ones((2, 3)), comparison=">=", reset="none")
    assert lif.summary() == "comparison=>=, reset=none, decay:[3], threshold:[2,1]"
    assert "123" not in node.summary()


def test_neuron_parameters_are_stored_at_their_granularity() -> None:
    """Constant axes of decay, gain and θ[k] are kept with size 1: per layer, per channel, per neuron."""
    per_channel = np.broadcast_to(np.arange(1.0, 4.0).reshape(3, 1, 1), (3, 4, 5))
    lif = ir.LIF("l", ("x",), decay=np.full((3, 4, 5), 0.5), threshold=np.stack([per_channel, 2 * per_channel]),
                 gain=np.random.default_rng(0).random((3, 4, 5)))
    assert lif.decay.shape == (1, 1, 1) and lif.threshold.shape == (2, 3, 1, 1) and lif.gain.shape == (3, 4, 5)
    assert lif.infer_shape([(3, 4, 5)]) == (3, 4, 5)
    assert not lif.threshold.flags.writeable
    expected = np.stack([per_channel, 2 * per_channel])
    np.testing.assert_array_equal(ir.expand_param(lif.threshold, (2, 3, 4, 5)), expected)
    ext = ir.ops_ext.LIFExt("e", ("x",), decay=np.zeros(6), threshold=np.ones(6), syn_decay=np.arange(6.0))
    assert (ext.decay.shape, ext.threshold.shape, ext.syn_decay.shape) == ((1,), (1,), (6,))
    mpbn = ir.MPBNLIF("m", ("x",), decay=np.zeros((3, 4, 5)), mean=np.zeros((3, 1, 1)), var=np.ones((3, 1, 1)),
                      weight=np.ones((3, 1, 1)), bias=np.zeros((3, 1, 1)))
    assert mpbn.decay.shape == (1, 1, 1) and mpbn.mean.shape == (3, 1, 1) and not mpbn.elementwise


def test_granular_parameter_shapes() -> None:
    assert ir.param_fits((3, 1, 1), (3, 4, 5)) and ir.param_fits((1, 1, 1), (3, 4, 5))
    assert not ir.param_fits((3,), (3, 4, 5)) and not ir.param_fits((2, 1, 1), (3, 4, 5))
    assert ir.compact_param(np.ones((2, 3, 4)), lead=1).shape == (2, 1, 1)


def test_array_and_attribute_fields() -> None:
    assert ir.LIF.array_fields() == ("decay", "threshold", "gain")
    assert ir.LIF.attribute_fields() == ("comparison", "reset")
    assert ir.Conv2d.attribute_fields() == ("stride", "padding", "dilation", "groups")
    assert ir.Input.array_fields() == ()


def test_lif_levels() -> None:
    kw: dict[str, Any] = {"decay": np.zeros(3), "threshold": np.ones((3, 3))}
    assert ir.LIF("l", ("x",), **kw).levels == 3
    mpbn = ir.MPBNLIF("m", ("x",), decay=np.zeros((2, 3)), mean=np.zeros((2, 3)), var=np.ones((2, 3)),
                      weight=np.ones((2, 3)), bias=np.zeros((2, 3)))
    assert mpbn.elementwise
    assert not mpbn.replace(mean=np.zeros((2, 1)), var=np.ones((2, 1)), weight=np.ones((2, 1)),
                            bias=np.zeros((2, 1))).elementwise
