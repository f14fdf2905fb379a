"""Check and verify on research-code layouts (issue 14, points 3, 4, 5, 7): a spike module shared by several
layers (STBP-tdBN style), neurons on merged [T·B, ...] tensors (MLF-DSResNet style), a readout error, and
spike-output classifiers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.broken_fold import break_fold_norm, shift_readout_bias
from torch import nn

import snncompile
from snncompile import ir
from snncompile import nn as snn
from snncompile.errors import CompileError
from snncompile.frontend import ConvertContext, register_converter
from snncompile.verification import verify

TD = snn.TimeDistributed
T = 4


class SharedSpikeNet(nn.Module):
    """STBP-tdBN style: one spike module, called after every layer on tensors of three different shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = TD(nn.Conv2d(1, 4, 3, 1, 1), nn.BatchNorm2d(4))
        self.conv2 = TD(nn.Conv2d(4, 6, 3, 2, 1), nn.BatchNorm2d(6))
        self.fc = TD(nn.Flatten(), nn.Linear(6 * 4 * 4, 12))
        self.spike = snn.LIF(v_th=0.3)
        self.readout = snn.Readout(12, 10)
        self.input_shape, self.timesteps = (1, 8, 8), T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spike(self.conv1(x))
        x = self.spike(self.conv2(x))
        return self.readout(self.spike(self.fc(x)))


class MergedMLF(nn.Module):
    """MLF-DSResNet style: a multi-level neuron on the merged time-major batch [T·B, ...] (its forward splits
    the T steps itself); levels fire when the membrane exceeds 0.6, 1.6, 2.6 (hard reset per level)."""

    thresholds = (0.6, 1.6, 2.6)

    def __init__(self, timesteps: int, decay: float = 0.25) -> None:
        super().__init__()
        self.timesteps, self.decay = timesteps, decay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0] // self.timesteps
        vs = [torch.zeros_like(x[:b]) for _ in self.thresholds]
        out = torch.zeros_like(x)
        for t in range(self.timesteps):
            step = x[t * b:(t + 1) * b]
            for k, v_th in enumerate(self.thresholds):
                h = self.decay * vs[k] + step
                s = (h > v_th).to(x.dtype)
                vs[k] = h * (1 - s)
                out[t * b:(t + 1) * b] += s
        return out


@register_converter(MergedMLF)
def _merged_mlf(ctx: ConvertContext, m: MergedMLF, path: str, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])
    return ctx.add(ir.LIF, inputs, path, decay=np.full(shape, m.decay),
                   threshold=np.stack([np.full(shape, v) for v in m.thresholds]), comparison=">", reset="zero")


def merged_net() -> nn.Module:
    model = nn.Sequential(TD(nn.Conv2d(1, 4, 3, 1, 1), nn.BatchNorm2d(4), MergedMLF(T)),
                          TD(nn.Conv2d(4, 4, 3, 2, 1), nn.BatchNorm2d(4), MergedMLF(T)),
                          TD(nn.Flatten(), nn.Linear(64, 10), MergedMLF(T)), snn.Readout(10, 10))
    model.input_shape, model.timesteps = (1, 8, 8), T
    return model


def _randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(3.0)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_check_compares_every_call_of_a_shared_spike_module() -> None:
    result = snncompile.compile(_randomized(SharedSpikeNet()), "sim")
    rep = result.check.report
    assert rep.exact and rep.compared == 3 == len(rep.layers)
    assert [r.layer for r in rep.layers] == ["spike [spike]", "spike [spike_1]", "spike [spike_2]"]
    assert sum(r.decisions for r in rep.layers) == result.check.samples * T * (4 * 64 + 6 * 16 + 12)
    assert "compared 3 of 3 neuron layers" in result.check.lines()[0]


def test_check_unmerges_time_major_layouts_without_false_alarms() -> None:
    result = snncompile.compile(_randomized(merged_net()), "sim")
    rep = result.check.report
    assert rep.exact and rep.compared == 3 and all(r.model_vs_traced == 0 for r in rep.layers)


def test_verify_compares_every_layer_of_both_layouts() -> None:
    for model in (_randomized(SharedSpikeNet()), _randomized(merged_net())):
        report = verify(model, "sim", None)
        data = report.to_json()
        assert report.ok, [d.render() for d in report.problems]
        assert data["layers_total"] == 3 and set(data["layers_compared"].values()) == {3}
        assert all(p["layers_compared"] == 3 for p in data["pairs"])


class TwoPopulations(nn.Module):
    """A custom block whose converter emits two neuron nodes for one module call: hooks see one output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return snn.LIF()(snn.LIF()(x))


@register_converter(TwoPopulations)
def _two(ctx: ConvertContext, m: TwoPopulations, path: str, inputs: list[str]) -> str:
    shape = ctx.shape(inputs[0])
    first = ctx.add(ir.LIF, inputs, path, decay=np.full(shape, 0.25), threshold=np.full((1, *shape), 0.5),
                    comparison=">", reset="zero")
    return ctx.add(ir.LIF, [first], path, decay=np.full(shape, 0.25), threshold=np.full((1, *shape), 0.5),
                   comparison=">", reset="zero")


def _two_population_net() -> nn.Module:
    model = nn.Sequential(TD(nn.Flatten(), nn.Linear(64, 8)), TwoPopulations(), snn.Readout(8, 10))
    model.input_shape, model.timesteps = (1, 8, 8), T
    return _randomized(model)


def test_layers_that_cannot_be_compared_fail_check_and_verify() -> None:
    with pytest.raises(CompileError) as info:
        snncompile.compile(_two_population_net(), "sim")
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC403" and "2 of 2 layers could not be compared" in diag.message
    report = verify(_two_population_net(), "sim", None)
    assert not report.ok and [d.code for d in report.problems] == ["SNC904"]
    assert "compared 0 of 2 neuron layers" in report.problems[0].message


def _readout_bias_off(monkeypatch: pytest.MonkeyPatch, delta: float) -> None:
    break_fold_norm(monkeypatch, shift_readout_bias(delta))


def test_readout_error_fails_check_and_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    _readout_bias_off(monkeypatch, 0.3)
    with pytest.raises(CompileError) as info:
        snncompile.compile(_randomized(SharedSpikeNet()), "sim")
    assert info.value.codes == ["SNC403"] and "readout differs by 0.3" in info.value.diagnostics[0].message
    report = verify(_randomized(SharedSpikeNet()), "sim", None)
    assert "SNC905" in [d.code for d in report.problems] and not report.ok


def test_readout_within_rounding_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    _readout_bias_off(monkeypatch, 1e-13)
    assert snncompile.compile(_randomized(SharedSpikeNet()), "sim").check.passed
    assert verify(_randomized(SharedSpikeNet()), "sim", None).ok


def test_accuracy_of_a_spike_output_classifier_is_the_argmax_of_spike_counts() -> None:
    model = nn.Sequential(TD(nn.Flatten(), nn.Linear(64, 10)), snn.LIF(v_th=0.3))
    model.input_shape, model.timesteps = (1, 8, 8), T
    report = verify(_randomized(model), "sim", "digits", samples=60)
    acc = report.to_json()["accuracy"]
    assert acc["reference"] is not None and acc["compiled"] == acc["reference"]
    assert "spike counts" in acc["note"]


def test_accuracy_not_computable_says_why() -> None:
    model = nn.Sequential(TD(nn.Conv2d(1, 2, 3, 1, 1)), snn.LIF())
    model.input_shape, model.timesteps = (1, 8, 8), T
    report = verify(_randomized(model), "sim", "digits", samples=20)
    acc = report.to_json()["accuracy"]
    assert acc["reference"] is None and "accuracy not computed" in acc["note"] and "[2, 8, 8]" in acc["note"]
