"""register_converter for user layers, converter inheritance, and how torch structure maps to IR nodes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from snncompile import ir
from snncompile import nn as snn
from snncompile.errors import CompileError
from snncompile.frontend import ConvertContext, register_converter, trace
from snncompile.sim import simulate

TD = snn.TimeDistributed


class ThresholdNeuron(nn.Module):
    """A user's neuron: non-leaky integrate-and-fire with subtractive reset,
    v[t] = v[t−1] + x[t] − θ·s[t],  s[t] = [v[t−1] + x[t] > θ]."""

    def __init__(self, theta: float = 1.0) -> None:
        super().__init__()
        self.theta = theta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):  # a Python loop over time: not traceable, so the module must be a leaf
            v = v + x[t]
            s = (v > self.theta).to(x.dtype)
            v = v - self.theta * s
            out.append(s)
        return torch.stack(out)


@register_converter(ThresholdNeuron)
def convert_threshold_neuron(ctx: ConvertContext, m: ThresholdNeuron, path: str, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])
    return ctx.add(ir.LIF, inputs, path, decay=np.ones(shape), threshold=np.full((1, *shape), m.theta),
                   comparison=">", reset="subtract")


class EagerThreshold(ThresholdNeuron):
    """A subclass without its own converter inherits ThresholdNeuron's."""


class CountingLIF(snn.LIF):
    """A subclass of a library neuron inherits the library converter."""


class OwnConverterNeuron(ThresholdNeuron):
    pass


def _own(ctx: ConvertContext, m: OwnConverterNeuron, path: str, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])
    return ctx.add(ir.LIF, inputs, path, decay=np.zeros(shape), threshold=np.full((1, *shape), 7.0))


assert register_converter(OwnConverterNeuron, _own) is _own  # the direct (non-decorator) form


def test_custom_neuron_traces_and_simulates_like_its_forward(equivalence: Callable[..., object]) -> None:
    def build() -> nn.Module:
        return nn.Sequential(TD(nn.Linear(6, 5)), ThresholdNeuron(0.8), TD(nn.Linear(5, 4)), EagerThreshold(0.5),
                             snn.Readout(4, 3))

    for kind in ("currents", "spikes"):
        check = equivalence(build, (6,), 8, kind, 0, neuron_types=(ThresholdNeuron,))
        assert check.matched >= {"1", "3", "4"}  # type: ignore[attr-defined]
        lifs = check.graph.of_kind(ir.LIF)  # type: ignore[attr-defined]
        assert [(n.origin, n.reset) for n in lifs] == [("1", "subtract"), ("3", "subtract")]


def test_subclasses_inherit_converters_unless_they_register_their_own() -> None:
    graph = trace(nn.Sequential(CountingLIF(v_th=0.3), EagerThreshold(2.0), OwnConverterNeuron()), input_shape=(3,))
    lifs = graph.of_kind(ir.LIF)
    assert [float(n.threshold.max()) for n in lifs] == [0.3, 2.0, 7.0]
    assert [float(n.decay.max()) for n in lifs] == [0.25, 1.0, 0.0]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = TD(nn.Linear(4, 4))
        self.lif = snn.LIF()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lif(self.fc(x))
        out += x  # in-place add traces as an add too
        return torch.add(out, self.fc(out)) + out


def test_residual_additions_become_add_nodes() -> None:
    graph = trace(Residual(), input_shape=(4,))
    adds = graph.of_kind(ir.Add)
    assert len(adds) == 3
    assert [[e.src for e in a.inputs] for a in adds] == [["lif", "input"], ["add", "fc.0_1"], ["add_1", "add"]]
    assert all(a.origin.startswith("add") for a in adds)
    # the module used twice gives two nodes with distinct names and the same origin
    assert [n.name for n in graph.of_kind(ir.Dense)] == ["fc.0", "fc.0_1"]
    assert {n.origin for n in graph.of_kind(ir.Dense)} == {"fc.0"}
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    model = Residual().double()
    graph = trace(model, input_shape=(4,))
    with torch.no_grad():
        assert np.allclose(simulate(graph, x).output, model(x).numpy(), rtol=0, atol=1e-12)


def test_identity_and_dropout_become_identity_nodes() -> None:
    model = nn.Sequential(nn.Identity(), TD(nn.Dropout(0.3), nn.Linear(4, 4), nn.Dropout2d(0.1)), nn.Dropout(0.5),
                          snn.LIF())
    graph = trace(model, input_shape=(4,))
    identities = graph.of_kind(ir.Identity)
    assert [(n.origin, n.reason) for n in identities] == [
        ("0", "identity"), ("1.0", "dropout"), ("1.2", "dropout"), ("2", "dropout")]


def test_flatten_method_of_features_becomes_a_flatten_node() -> None:
    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lif = snn.LIF()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lif(x).flatten(2)

    graph = trace(Head(), input_shape=(2, 3, 3))
    assert graph.node(graph.outputs[0]).kind == "flatten" and graph.shapes[graph.outputs[0]] == (18,)


def test_nested_sequentials_are_walked_and_named_by_path() -> None:
    model = nn.Sequential(nn.Sequential(TD(nn.Linear(4, 3)), snn.LIF()), nn.Sequential(nn.Sequential(snn.S2NN())))
    graph = trace(model, input_shape=(4,))
    assert [(n.name, n.kind) for n in graph.nodes] == [
        ("input", "input"), ("0.0.0", "dense"), ("0.1", "lif"), ("1.0.0", "lif")]


class ResidualStage(nn.Sequential):
    """A Sequential subclass with its own forward (a residual around its children)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + x


class Stage(nn.Sequential):
    """A Sequential subclass that holds a block the converter table does not know (it is traced through)."""


def test_sequential_subclasses_are_traced_through() -> None:
    model = nn.Sequential(TD(nn.Conv2d(2, 2, 3, 1, 1)), ResidualStage(TD(nn.Conv2d(2, 2, 3, 1, 1)), snn.LIF()),
                          Stage(snn.SpikingBasicBlock(2, 2)))
    graph = trace(model, input_shape=(2, 4, 4))
    assert [n.origin for n in graph.of_kind(ir.Add)] == ["1.add", "2.0.add_1"]  # fx numbers adds per graph
    x = torch.randn(4, 2, 2, 4, 4, dtype=torch.float64)
    model = model.double()
    with torch.no_grad():
        assert np.array_equal(simulate(graph, x).output, model(x).numpy())


def test_sequential_subclass_with_forward_inside_time_distributed_is_refused() -> None:
    """Inside TimeDistributed children are converted, not traced: chaining the children of a Sequential
    subclass with its own forward() would silently drop that forward, so it must be refused (SNC113)."""
    class ResidualLinear(nn.Sequential):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) + x

    model = nn.Sequential(TD(ResidualLinear(nn.Linear(4, 4))), snn.LIF())
    with pytest.raises(CompileError) as info:
        trace(model, input_shape=(4,))
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC113" and diag.origin == "0.0" and "ResidualLinear" in diag.message
    plain = nn.Sequential(TD(Stage(nn.Linear(4, 4)), nn.Sequential(nn.Linear(4, 4))), snn.LIF())
    assert [n.kind for n in trace(plain, input_shape=(4,)).nodes] == ["input", "dense", "dense", "lif"]
