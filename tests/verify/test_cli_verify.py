"""`snncompile verify`: exit status 0 when every check passes, 1 naming the first diverging layer otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers.broken_fold import break_fold_norm, negate_first_conv
from torch import nn

from snncompile.cli import cli


@pytest.fixture
def model_file(small_model: nn.Module, tmp_path: Path) -> Path:
    path = tmp_path / "small.pt"
    torch.save(small_model.float(), path)
    return path


def test_verify_command_passes_and_writes_reports(model_file: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "data.npz", x=np.random.default_rng(1).random((12, 1, 8, 8)), y=np.arange(12) % 10)
    result = CliRunner().invoke(cli, ["verify", str(model_file), "--target", "sim", "--data",
                                      str(tmp_path / "data.npz"), "--json", str(tmp_path / "v.json")])
    assert result.exit_code == 0, result.output
    assert "verify: all checks passed" in result.output and "pytorch → lowered" in result.output
    data = json.loads((tmp_path / "v.json").read_text())
    assert data["data"]["samples"] == 12 and data["accuracy"]["reference"] is not None


def test_verify_command_fails_on_a_broken_fold(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    break_fold_norm(monkeypatch, negate_first_conv)
    result = CliRunner().invoke(cli, ["verify", str(model_file), "--target", "sim", "--data", "random"])
    assert result.exit_code == 1, result.output
    assert "error[SNC900]" in result.output and "first diverging: layer 2" in result.output
