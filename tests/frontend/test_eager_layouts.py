"""Eager tracing in the model's own input layout: [B, ...] repeated inside forward(), and the refusals (SNC112)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import snncompile
import snncompile.nn as snn
from snncompile import ir
from snncompile.errors import CompileError
from snncompile.verification.check import check_compile, random_input

STEPS = 4


class RepeatsInside(nn.Module):
    """Takes [B, 12]; repeats it T times, then a [T, B, ...] network whose rate is averaged over time."""

    def __init__(self, tail: str = "mean") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.lif1 = snn.TimeDistributed(nn.Linear(12, 10)), snn.LIF(0.5, 0.3)
        self.fc2, self.lif2 = snn.TimeDistributed(nn.Linear(10, 6)), snn.LIF(0.25, 0.2)
        self.tail = tail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x.shape) == 2:  # Python on real shapes is fine
            x = x.unsqueeze(0).repeat(STEPS, 1, 1)
        y = self.lif2(self.fc2(self.lif1(self.fc1(x))))
        if self.tail == "relu":
            return torch.relu(y)
        return y.mean(0)


def test_a_repeated_input_traces_checks_exactly_and_records_its_layout() -> None:
    model = RepeatsInside().double()
    graph = snncompile.trace(model, (12,), STEPS, layout="repeat")
    assert graph.metadata["input_layout"] == "repeat" and graph.metadata["output_over_time"] == "mean"
    assert [type(n) for n in graph] == [ir.Input, ir.Dense, ir.LIF, ir.Dense, ir.LIF]
    report = check_compile(model, graph, graph, random_input(graph, batch=8))
    assert report.exact and all(r.model_vs_traced == 0 for r in report.layers) and len(report.layers) == 2
    assert report.readout_model_vs_compiled < 1e-12


def test_an_unknown_operation_between_modules_is_refused_with_its_module() -> None:
    with pytest.raises(CompileError) as info:
        snncompile.trace(RepeatsInside("relu"), (12,), STEPS, layout="repeat")
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC112" and "`relu`" in diag.message and "RepeatsInside" in diag.message


class MixesAxes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = snn.TimeDistributed(nn.Linear(3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [T·B, 3] -> [T, B·3]: time and features mixed
        return self.fc(x.reshape(STEPS, -1).reshape(-1, 3))


def test_a_reshape_that_mixes_time_and_features_is_refused() -> None:
    with pytest.raises(CompileError) as info:
        snncompile.trace(MixesAxes(), (3,), STEPS, layout="merged")
    assert info.value.diagnostics[0].code == "SNC112" and "reshape" in info.value.diagnostics[0].message


def test_a_neuron_before_the_input_has_a_time_axis_is_refused() -> None:
    class Early(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lif = snn.LIF()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lif(x).unsqueeze(0).repeat(STEPS, 1, 1)

    with pytest.raises(CompileError) as info:
        snncompile.trace(Early(), (5,), STEPS, layout="repeat")
    assert info.value.diagnostics[0].code == "SNC112"


def test_an_unknown_layout_is_refused() -> None:
    with pytest.raises(CompileError) as info:
        snncompile.trace(RepeatsInside(), (12,), STEPS, layout="batch_first")
    assert info.value.diagnostics[0].code == "SNC112" and "time_last" in info.value.diagnostics[0].hint
