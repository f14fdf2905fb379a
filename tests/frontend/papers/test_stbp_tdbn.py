"""STBP-tdBN's modules (time-last layout, shared LIFSpike, tdBN with alpha) compile exactly without converters."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from frontend.papers import repro_stbp as stbp
from frontend.papers.papers_common import assert_exact, exact_check, randomize_norms
from torch import nn

from snncompile.errors import CompileError
from snncompile.ir.traits import float_neurons


def test_plain_net_is_exact_and_each_call_of_the_shared_spike_is_a_neuron_layer() -> None:
    model = randomize_norms(stbp.Net())
    result, report = exact_check(model, (2, 8, 8))
    assert_exact(report, layers=5)  # one LIFSpike instance, called five times
    assert {n.origin for n in float_neurons(result.traced)} == {"spike"}
    assert result.traced.metadata["input_layout"] == "time_last"
    assert result.traced.metadata["output_over_time"] == "mean"
    assert result.report["input_layout"] == "time_last" and result.report["timesteps"] == stbp.STEPS


def test_resnet_with_alpha_scaled_residual_norms_is_exact() -> None:
    model = randomize_norms(stbp.ResNet())
    result, report = exact_check(model, (2, 8, 8))
    assert_exact(report, layers=6)
    scales = sorted({round(n.scale, 6) for n in result.traced.of_kind(__import__("snncompile").ir.BatchNorm)})
    assert scales == [round(0.2 / 2 ** 0.5, 6), 0.2]  # alpha·VTH, alpha = 1/√2 on the residual branch


class LIFSpike(nn.Module):
    """Named like STBP's but leaks with 0.5: must be refused, not compiled with TAU."""

    def __init__(self, steps: int = stbp.STEPS) -> None:
        super().__init__()
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, out = torch.zeros(x.shape[:-1], dtype=x.dtype), torch.zeros_like(x)
        for t in range(self.steps):
            u = 0.5 * u + x[..., t]
            out[..., t] = (u > stbp.VTH).to(x.dtype)
            u = u * (1 - out[..., t])
        return out


TAU = 0.25
VTH = 0.2


def test_a_class_with_the_name_but_other_dynamics_is_refused() -> None:
    model = stbp.Net()
    model.spike = LIFSpike()
    with pytest.raises(CompileError) as info:
        exact_check(randomize_norms(model), (2, 8, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC703" and diag.origin == "spike"
    assert "test_stbp_tdbn.LIFSpike" in diag.message and "differ on a probe input" in diag.message


class tdLayer(nn.Module):
    """Named like STBP's tdLayer but without its attributes."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.inner = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.inner(x[..., t]) for t in range(x.shape[-1])], -1)


def test_a_class_with_the_name_but_other_attributes_is_refused() -> None:
    model = stbp.Net()
    model.pool1_s = tdLayer(nn.AvgPool2d(2))
    with pytest.raises(CompileError) as info:
        exact_check(randomize_norms(model), (2, 8, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC703" and diag.origin == "pool1_s" and "`layer`" in diag.message


def test_cli_compiles_a_pickled_checkpoint_and_reports_the_layout(tmp_path: object) -> None:
    from snncompile.cli import cli

    model = randomize_norms(stbp.Net())
    path = f"{tmp_path}/stbp.pt"
    torch.save(model, path)
    out = f"{tmp_path}/out"
    res = CliRunner().invoke(cli, ["compile", path, "--trust-pickle", "--input-shape", "2,8,8", "--target", "sim",
                                   "-o", out])
    assert res.exit_code == 0, res.output
    report = json.load(open(f"{out}/report.json"))
    assert report["input_layout"] == "time_last"


def test_verify_feeds_the_model_in_its_layout_and_compares_every_call_of_the_shared_spike() -> None:
    import snncompile

    report = snncompile.verify(randomize_norms(stbp.Net()), "sim", None, samples=8, input_shape=(2, 8, 8),
                               lava=False)
    pair = next(p for p in report.to_json()["pairs"] if (p["a"], p["b"]) == ("pytorch", "traced"))
    assert pair["layers_compared"] == 5 and pair["mismatches"] == 0 and pair["decisions"] > 0
    assert not report.problems
