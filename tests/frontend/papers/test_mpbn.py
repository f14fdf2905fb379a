"""The official MPBN code's modules (SpikeModel repeating [B, C, H, W], LIFAct, myBatchNorm3d, tdBatchNorm2d,
SpikePool/SpikeConv, the tuple-passing BasicBlock) compile exactly without converters."""

from __future__ import annotations

import pytest
import torch
from frontend.papers import repro_mpbn as mpbn
from frontend.papers.papers_common import assert_exact, exact_check, randomize_norms
from torch import nn

import snncompile
from snncompile import ir
from snncompile.errors import CompileError


def spiking(step: int = 3) -> mpbn.SpikeModel:
    model = mpbn.SpikeModel(mpbn.ResNetCifar(), step=step)
    model.set_spike_state(True)
    return randomize_norms(model)


def test_spike_model_is_exact_at_every_layer_and_its_readout_too() -> None:
    result, report = exact_check(spiking(), (3, 8, 8))
    assert_exact(report, layers=5)
    assert report.readout_model_vs_compiled == 0.0 and report.dtype == "float64"
    assert result.traced.metadata["input_layout"] == "repeat" and result.traced.timesteps == 3
    (lif, *_) = result.traced.of_kind(ir.MPBNLIF)
    assert lif.fire_level == 0.5 and lif.v_th == 1.0 and lif.reset == "zero" and float(lif.decay.flat[0]) == 0.25
    assert len(result.traced.of_kind(ir.Readout)) == 1


def test_td_batchnorm2d_gets_its_own_converter_not_batchnorm2ds() -> None:
    model = spiking()
    td = mpbn.tdBatchNorm2d(nn.BatchNorm2d(4), alpha=1 / 2 ** 0.5)
    td.set_spike_state(True)
    model.model.bn1 = randomize_norms(td, seed=2)
    result, report = exact_check(model, (3, 8, 8))
    assert_exact(report, layers=5)
    norm = result.traced.node("model.bn1")
    assert isinstance(norm, ir.BatchNorm) and norm.scale == pytest.approx(0.5 / 2 ** 0.5)


def test_ann_mode_is_refused() -> None:
    model = spiking()
    model.set_spike_state(False)
    with pytest.raises(CompileError) as info:
        snncompile.trace(model, (3, 8, 8))
    assert info.value.diagnostics[0].code == "SNC704" and "set_spike_state(True)" in info.value.diagnostics[0].hint


class LIFAct(mpbn.SpikeModule):
    """Named like MPBN's LIFAct, same attributes, but a decay of 0.5: refused, not compiled with 0.25."""

    def __init__(self, step: int, channel: int) -> None:
        super().__init__()
        self.step, self.V_th, self.bn = step, 1.0, nn.BatchNorm2d(channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem, out = torch.zeros_like(x[0]), []
        for t in range(self.step):
            mem = mem * 0.5 + x[t]
            s = (self.bn(mem) / self.V_th > 0.5).to(x.dtype)
            mem = mem * (1 - s)
            out.append(s)
        return torch.stack(out)


def test_a_lifact_with_another_decay_is_refused_with_its_module_path() -> None:
    model = spiking()
    model.model.relu = LIFAct(3, 4)
    model.set_spike_state(True)
    with pytest.raises(CompileError) as info:
        snncompile.trace(randomize_norms(model), (3, 8, 8))
    diag = info.value.diagnostics[0]
    assert diag.code == "SNC703" and diag.origin == "model.relu" and "test_mpbn.LIFAct" in diag.message


def test_loihi_refusal_counts_the_neurons_whose_threshold_folds_to_zero_or_below() -> None:
    model = spiking()
    for m in model.modules():
        if isinstance(m, mpbn.LIFAct):
            m.bn.running_mean.zero_()
            m.bn.bias.data.fill_(-0.2)
    model.model.relu.bn.bias.data[:2] = 0.6  # bn(0) = 0.6 > 0.5: channels 0 and 1 fire on zero input
    with pytest.raises(CompileError) as info:
        snncompile.compile(model, "loihi", input_shape=(3, 8, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC613" and diag.origin == "model.relu"
    assert "128 of 256 neurons" in diag.message and "deployability_penalty" in diag.hint


def test_the_deployability_penalty_sees_the_official_lifact() -> None:
    model = spiking()
    for m in model.modules():
        if isinstance(m, mpbn.LIFAct):
            m.bn.running_mean.zero_()
            m.bn.bias.data.fill_(-0.2)
    assert float(snncompile.nn.deployability_penalty(model).detach()) == 0.0
    model.model.relu.bn.bias.data[:2] = 0.6
    penalty = snncompile.nn.deployability_penalty(model)
    penalty.backward()
    assert float(penalty.detach()) > 0 and float(model.model.relu.bn.bias.grad[:2].abs().min()) > 0


def test_cli_compiles_a_state_dict_with_the_users_factory(tmp_path: object) -> None:
    from click.testing import CliRunner

    from snncompile.cli import cli

    path = f"{tmp_path}/snn.pth"
    torch.save(spiking().state_dict(), path)
    res = CliRunner().invoke(cli, ["compile", path, "--factory", "frontend.papers.repro_mpbn:build",
                                   "--input-shape", "3,8,8", "--target", "sim"])
    assert res.exit_code == 0, res.output


def test_the_fine_tuning_recipe_of_docs_papers_makes_the_model_compile_for_loihi() -> None:
    """docs/PAPERS.md, 'Fine-tuning for Loihi', with the task loss left out: the penalty alone moves the
    membrane-BN parameters until every folded threshold is positive."""
    model = spiking()
    for m in model.modules():
        if isinstance(m, mpbn.LIFAct):
            m.bn.running_mean.zero_()
            m.bn.bias.data.fill_(0.6)  # every neuron fires on zero input
    with pytest.raises(CompileError):
        snncompile.compile(model, "loihi", input_shape=(3, 8, 8))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(200):
        penalty = snncompile.nn.deployability_penalty(model, margin=0.05)
        if float(penalty.detach()) == 0.0:
            break
        opt.zero_grad()
        penalty.backward()
        opt.step()
    below = sum(int((snncompile.nn.official_mpbn_threshold(m) <= 0).sum()) for m in model.modules()
                if isinstance(m, mpbn.LIFAct))
    assert below == 0
    result = snncompile.compile(model, "loihi", input_shape=(3, 8, 8))
    assert result.graph.metadata["input_layout"] == "repeat"
