"""Frontend diagnostics: unsupported modules, functions and options, unknown input shape, untraceable code."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snncompile import nn as snn
from snncompile.errors import CompileError, Diagnostic
from snncompile.frontend import trace

TD = snn.TimeDistributed


def diagnose(model: nn.Module, shape: tuple[int, ...] | None = (4,), code: str | None = None) -> Diagnostic:
    with pytest.raises(CompileError) as info:
        trace(model, input_shape=shape)
    (diag,) = info.value.diagnostics
    if code is not None:
        assert diag.code == code, diag.render()
    return diag


@pytest.mark.parametrize(("model", "path", "cls"), [
    (nn.Sequential(TD(nn.Linear(4, 4)), nn.LSTM(4, 4), snn.LIF()), "1", "torch.nn.modules.rnn.LSTM"),
    (nn.Sequential(TD(nn.Linear(4, 4)), nn.ReLU()), "1", "torch.nn.modules.activation.ReLU"),
    (nn.Sequential(TD(nn.Linear(4, 4), nn.Tanh())), "0.1", "torch.nn.modules.activation.Tanh"),
    (nn.Sequential(nn.Sequential(snn.LIF(), nn.GELU())), "0.1", "torch.nn.modules.activation.GELU"),
])
def test_unsupported_module(model: nn.Module, path: str, cls: str) -> None:
    diag = diagnose(model, code="SNC100")
    assert f"`{path}`" in diag.message and cls in diag.message
    assert diag.origin == path
    assert diag.hint is not None and "register_converter" in diag.hint
    assert cls.rsplit(".", 1)[1] in diag.hint


def test_unsupported_module_in_user_block() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.Softplus()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(x)

    diag = diagnose(nn.Sequential(snn.LIF(), Block()), code="SNC100")
    assert diag.origin == "1.act" and "Softplus" in diag.message


class Sigmoid(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lif = snn.LIF()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(x * 2)


class AddConstant(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1.0


class Subtract(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x


@pytest.mark.parametrize(("model", "origin", "what"), [
    (nn.Sequential(snn.LIF(), Sigmoid()), "1.sigmoid", "sigmoid"),
    (nn.Sequential(Scale()), "0.mul", "mul"),
    (AddConstant(), "add", "add"),
    (Subtract(), "sub", "sub"),
])
def test_unsupported_function(model: nn.Module, origin: str, what: str) -> None:
    diag = diagnose(model, code="SNC101")
    assert diag.origin == origin and f"`{what}`" in diag.message
    assert diag.hint is not None and "register a converter" in diag.hint


@pytest.mark.parametrize(("model", "shape", "words"), [
    (nn.Sequential(TD(nn.AvgPool2d(2, ceil_mode=True))), (1, 5, 5), "ceil_mode"),
    (nn.Sequential(TD(nn.AvgPool2d(2, divisor_override=3))), (1, 4, 4), "divisor_override"),
    (nn.Sequential(TD(nn.AvgPool2d(3, 1, 1, count_include_pad=False))), (1, 4, 4), "count_include_pad"),
    (nn.Sequential(TD(nn.MaxPool2d(2, ceil_mode=True))), (1, 5, 5), "ceil_mode"),
    (nn.Sequential(TD(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"))), (1, 4, 4), "padding_mode"),
    (nn.Sequential(TD(nn.Conv2d(1, 2, 2, padding="same"))), (1, 4, 4), "asymmetric"),
    (nn.Sequential(TD(nn.AdaptiveAvgPool2d(3))), (1, 4, 4), "uneven"),
    (nn.Sequential(TD(nn.BatchNorm2d(1, track_running_stats=False))), (1, 4, 4), "batch statistics"),
    (nn.Sequential(nn.Flatten()), (1, 4, 4), "flatten of axes 1..4"),
    (nn.Sequential(TD(nn.Flatten(0))), (1, 4, 4), "inside TimeDistributed"),
    (nn.Sequential(TD(nn.Flatten(1, 2))), (1, 4, 4), "flatten of axes 1..2"),
])
def test_unsupported_option(model: nn.Module, shape: tuple[int, ...], words: str) -> None:
    diag = diagnose(model, shape, code="SNC102")
    assert words in diag.message and diag.origin is not None and diag.hint


class FlattenTime(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(0, 1)


class FlattenBatch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, start_dim=1)


@pytest.mark.parametrize("model", [FlattenTime(), FlattenBatch()])
def test_flatten_of_time_or_batch_axis(model: nn.Module) -> None:
    diag = diagnose(model, (2, 3), code="SNC102")
    assert "[T, B, ...]" in diag.message and diag.hint is not None and "start_dim=2" in diag.hint


def test_missing_input_shape() -> None:
    diag = diagnose(nn.Sequential(snn.LIF()), shape=None, code="SNC105")
    assert "Sequential" in diag.message and diag.hint is not None and "input_shape" in diag.hint


def test_input_shape_and_timesteps_from_model_attributes() -> None:
    model = nn.Sequential(snn.LIF())
    model.input_shape, model.timesteps = (5,), 6  # type: ignore[assignment]
    graph = trace(model)
    assert graph.shapes["input"] == (5,) and graph.timesteps == 6
    assert trace(nn.Sequential(snn.LIF()), input_shape=[5]).timesteps is None


def test_untraceable_control_flow() -> None:
    class DataDependent(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if x.sum() > 0 else -x

    diag = diagnose(DataDependent(), code="SNC107")
    assert "DataDependent" in diag.message and diag.hint


def test_module_with_non_tensor_arguments() -> None:
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lif = snn.LIF()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lif(x, 3)

    assert "non-tensor" in diagnose(Scaled(), code="SNC101").message


def test_tensor_attribute_read_in_forward() -> None:
    class Bias(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.b = nn.Parameter(torch.zeros(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.b

    assert diagnose(Bias(), code="SNC101").hint


def test_shape_errors_name_the_module() -> None:
    diag = diagnose(nn.Sequential(TD(nn.Linear(5, 3))), (4,), code="SNC204")
    assert diag.origin == "0.0"


def test_trace_puts_the_model_in_eval_mode() -> None:
    model = nn.Sequential(TD(nn.Linear(4, 4), nn.Dropout(0.5)), snn.LIF()).train()
    trace(model, input_shape=(4,))
    assert not model.training
