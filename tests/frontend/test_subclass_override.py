"""Converter lookup refuses subclasses that override forward() of a class with a converter (issue 14, point 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import snncompile
from snncompile import ir
from snncompile import nn as snn
from snncompile.errors import CompileError
from snncompile.frontend import ConvertContext, register_converter, trace
from snncompile.frontend.pytorch import torch_nn
from snncompile.ir.traits import float_neurons
from snncompile.sim import simulate

TD = snn.TimeDistributed


class ThresholdScaledBN(nn.BatchNorm2d):
    """tdBN written the STBP-tdBN way: a BatchNorm2d subclass whose forward() takes [T, B, C, H, W], merges time
    into the batch axis and scales the normalized value by alpha·V_th (which plain BatchNorm does not)."""

    def __init__(self, channels: int, alpha: float = 1.0, v_th: float = 0.5) -> None:
        super().__init__(channels)
        self.alpha, self.v_th = alpha, v_th

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        flat = x.reshape(t * b, *x.shape[2:])
        mean = self.running_mean[None, :, None, None]
        std = torch.sqrt(self.running_var[None, :, None, None] + self.eps)
        y = self.alpha * self.v_th * (flat - mean) / std * self.weight[None, :, None, None] \
            + self.bias[None, :, None, None]
        return y.reshape(x.shape)


class TimeMergedBN(nn.BatchNorm2d):
    """A BatchNorm2d subclass that only merges [T, B] for the base forward: computes what BatchNorm computes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(0, 1)).reshape(x.shape)


class ChannelsOnlyBN(TimeMergedBN):
    """No forward of its own, but its base overrides BatchNorm's: refused like its base."""


class PlainNamedBN(nn.BatchNorm2d):
    """A subclass that only renames: inherits the BatchNorm converter, as before."""


def _net(norm: nn.Module) -> nn.Module:
    net = nn.Sequential(TD(nn.Conv2d(2, 3, 3, padding=1)), norm, snn.LIF(v_th=0.5))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    return net.eval()


def _inner(norm: nn.Module) -> nn.Module:
    return _net(TD(norm))


def test_batchnorm_subclass_with_own_forward_is_refused_with_path_class_and_fix() -> None:
    with pytest.raises(CompileError) as info:
        snncompile.compile(_inner(ThresholdScaledBN(3, alpha=1.0, v_th=0.5)), "sim", input_shape=(2, 4, 4),
                           timesteps=3, check=False)
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC113" and diag.origin == "1.0"
    assert "ThresholdScaledBN" in diag.message and "forward()" in diag.message and "BatchNorm" in diag.message
    assert diag.hint is not None and "register_converter(ThresholdScaledBN" in diag.hint
    assert "equivalent_to=" in diag.hint


def test_override_in_an_intermediate_base_is_refused_and_names_that_base() -> None:
    with pytest.raises(CompileError) as info:
        trace(_inner(ChannelsOnlyBN(3)), input_shape=(2, 4, 4))
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC113" and "ChannelsOnlyBN" in diag.message and "TimeMergedBN" in diag.message


def test_subclass_without_override_still_inherits_the_converter() -> None:
    graph = trace(_inner(PlainNamedBN(3)), input_shape=(2, 4, 4))
    assert [n.kind for n in graph.of_kind(ir.BatchNorm)] == ["batchnorm"]


def test_declared_equivalent_subclass_compiles_and_matches_its_forward() -> None:
    class EquivalentBN(TimeMergedBN):
        pass

    register_converter(EquivalentBN, equivalent_to=nn.BatchNorm2d)
    model = _net(EquivalentBN(3)).double()  # at the [T, B] level: its forward merges the axes itself
    graph = trace(model, input_shape=(2, 4, 4))
    x = torch.rand(3, 2, 2, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        assert np.array_equal(simulate(graph, x).output, model(x).numpy())


def test_registered_subclass_uses_its_own_converter() -> None:
    class ScaledBN(ThresholdScaledBN):
        pass

    def convert(ctx: ConvertContext, m: ScaledBN, path: str, inputs: list[str]) -> str:
        scale = m.alpha * m.v_th
        return ctx.add(ir.BatchNorm, inputs, path, mean=torch_nn._np(m.running_mean),
                       var=torch_nn._np(m.running_var), weight=scale * torch_nn._np(m.weight),
                       bias=torch_nn._np(m.bias), eps=m.eps, scale=1.0, eps_inside=True)

    register_converter(ScaledBN, convert)
    model = _net(ScaledBN(3, alpha=1.0, v_th=0.5)).double()
    result = snncompile.compile(model, "sim", input_shape=(2, 4, 4), timesteps=3)  # the default check passes
    assert result.report["check"]["exact"] is True


def test_equivalence_declaration_needs_a_subclass() -> None:
    with pytest.raises(TypeError):
        register_converter(nn.Linear, equivalent_to=nn.BatchNorm2d)


def test_library_neurons_still_convert() -> None:
    """The SNN libraries' neurons subclass registered catch-all bases; they keep their own converters."""
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    graph = trace(nn.Sequential(TD(nn.Linear(4, 4)), sj.LIFNode(step_mode="m"), sj.IFNode(step_mode="m")),
                  input_shape=(4,))
    assert len(float_neurons(graph)) == 2
