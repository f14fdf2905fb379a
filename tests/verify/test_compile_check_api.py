"""snncompile.compile() runs the CLI's default check before writing (issue 14, point 6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import snncompile
from snncompile import ir
from snncompile import nn as snn
from snncompile.errors import CompileError
from snncompile.frontend import ConvertContext, register_converter

TD = snn.TimeDistributed


class CountingIF(nn.Module):
    """A user's integrate-and-fire neuron with subtractive reset and non-strict threshold 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v, out = torch.zeros_like(x[0]), []
        for t in range(x.shape[0]):
            v = v + x[t]
            s = (v >= 1.0).to(x.dtype)
            v = v - s
            out.append(s)
        return torch.stack(out)


@register_converter(CountingIF)
def _wrong_converter(ctx: ConvertContext, m: CountingIF, path: str, inputs: list[str]) -> str:
    """Deliberately wrong: a hard reset instead of the module's subtractive one."""
    shape = ctx.shape(inputs[0])
    return ctx.add(ir.LIF, inputs, path, decay=np.ones(shape), threshold=np.ones((1, *shape)),
                   comparison=">=", reset="zero")


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(TD(nn.Linear(6, 8)), CountingIF(), snn.Readout(8, 3)).eval()


def test_failing_check_raises_snc403_and_writes_nothing(tmp_path) -> None:
    out = tmp_path / "artifact"
    with pytest.raises(CompileError) as info:
        snncompile.compile(_model(), "sim", out, input_shape=(6,), timesteps=6)
    (diag,) = info.value.diagnostics
    assert diag.code == "SNC403" and "spikes differ" in diag.message and "`1`" in diag.message
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_check_can_be_turned_off(tmp_path) -> None:
    result = snncompile.compile(_model(), "sim", tmp_path / "a", input_shape=(6,), timesteps=6, check=False)
    assert result.check is None and "check" not in result.report and (tmp_path / "a" / "graph.json").is_file()


def test_passing_check_is_in_the_result_and_report(tmp_path) -> None:
    model = nn.Sequential(TD(nn.Linear(6, 8)), snn.LIF(), snn.Readout(8, 3)).eval()
    result = snncompile.compile(model, "sim", tmp_path / "a", input_shape=(6,), timesteps=6)
    assert result.check.passed and result.report["check"]["layers_compared"] == 1
    assert result.report["check"]["layers_total"] == 1 and result.report["check"]["readout_ok"]


def test_cli_and_api_give_the_same_error(tmp_path) -> None:
    from click.testing import CliRunner

    from snncompile.cli import cli

    path = tmp_path / "m.pt"
    torch.save(_model(), path)
    res = CliRunner().invoke(cli, ["compile", str(path), "--trust-pickle", "--input-shape", "6", "--timesteps",
                                   "6", "-o", str(tmp_path / "out")])
    assert res.exit_code == 1 and "SNC403" in res.output and not (tmp_path / "out").exists()
