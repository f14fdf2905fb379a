"""MLF + DS-ResNet's modules (merged [T·B, ...], MLF_unit with three levels, tdBN with ε outside the root,
the spike-union shortcut, the hand-written mean over time) compile exactly without converters."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from frontend.papers import repro_mlf as mlf
from frontend.papers.papers_common import assert_exact, exact_check, randomize_norms
from torch import nn

import snncompile
from snncompile import ir
from snncompile.errors import CompileError


@pytest.mark.parametrize("modified", [True, False], ids=["ds_resnet", "spiking_resnet"])
def test_resnet_is_exact_at_every_layer_and_the_readout_too(modified: bool) -> None:
    model = randomize_norms(mlf.ResNet(modified=modified), bias=(0.4, 1.5))
    result, report = exact_check(model, (3, 8, 8))
    assert_exact(report, layers=6 if modified else 5)
    assert report.readout_model_vs_compiled == 0.0
    assert result.traced.metadata["input_layout"] == "merged" and result.traced.timesteps == mlf.TimeStep
    lif = result.traced.node("spike_func")
    assert isinstance(lif, ir.LIF) and lif.comparison == ">" and lif.reset == "zero"
    assert np.array_equal(lif.threshold[:, 0, 0, 0], [0.6, 1.6, 2.6]) and float(lif.decay.flat[0]) == 0.25
    norm = result.traced.node("bn1")
    assert isinstance(norm, ir.BatchNorm) and not norm.eps_inside and norm.scale == 0.6


def test_the_two_level_variant_is_recognized_by_its_behaviour(monkeypatch: pytest.MonkeyPatch) -> None:
    class TwoLevels(mlf.MLF_unit):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            bs = x.shape[0] // mlf.TimeStep
            us = [torch.zeros((bs, *x.shape[1:]), dtype=x.dtype) for _ in range(2)]
            out = torch.zeros_like(x)
            for t in range(mlf.TimeStep):
                drive = x[t * bs:(t + 1) * bs]
                us = [mlf.tau * u * (1 - (u > v).to(x.dtype)) + drive for u, v in zip(us, (mlf.Vth, mlf.Vth2),
                                                                                        strict=True)]
                out[t * bs:(t + 1) * bs] = sum((u > v).to(x.dtype) for u, v in zip(us, (mlf.Vth, mlf.Vth2),
                                                                                     strict=True))
            return out

    TwoLevels.__qualname__, TwoLevels.__module__ = "MLF_unit", mlf.__name__  # as if edited in the repository
    model = randomize_norms(mlf.ResNet(), bias=(0.4, 1.5))
    model.spike_func = TwoLevels()
    graph = snncompile.trace(model, (3, 8, 8))
    assert graph.node("spike_func").threshold.shape[0] == 2
    assert graph.node("layer1.execute.0.spike_func").threshold.shape[0] == 3


class MLF_unit(nn.Module):
    """Named like the repository's, but its module defines no Vth / tau / TimeStep."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 1).float()


def test_an_mlf_unit_without_the_repositorys_constants_is_refused() -> None:
    assert not hasattr(sys.modules[__name__], "Vth")
    model = randomize_norms(mlf.ResNet())
    model.layer1.execute[0].spike_func = MLF_unit()
    with pytest.raises(CompileError) as info:
        snncompile.trace(model, (3, 8, 8))
    diag = info.value.diagnostics[0]
    assert diag.code == "SNC703" and diag.origin == "layer1.execute.0.spike_func"
    assert "Vth" in diag.message and "test_mlf_dsresnet.MLF_unit" in diag.message


def test_cli_compiles_a_training_checkpoint_of_a_data_parallel_model(tmp_path: object) -> None:
    from click.testing import CliRunner

    from snncompile.cli import cli

    model = randomize_norms(mlf.ResNet(), bias=(0.4, 1.5))
    state = {f"module.{k}": v for k, v in model.state_dict().items()}  # nn.DataParallel, as the repository trains
    path = f"{tmp_path}/ckpt.pth"
    torch.save({"model": state, "epoch": 3}, path)
    res = CliRunner().invoke(cli, ["compile", path, "--factory", "frontend.papers.repro_mlf:ResNet",
                                   "--input-shape", "3,8,8", "--target", "sim"])
    assert res.exit_code == 0, res.output
