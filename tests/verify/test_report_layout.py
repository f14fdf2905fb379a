"""The verify report: samples per stage, worst layer, compile options, warnings, resources, 100 columns
(issue 14, point 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from helpers.broken_fold import break_fold_norm, negate_first_conv
from torch import nn

from snncompile.cli import cli


def test_html_and_terminal_report_layout(small_model: nn.Module, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "small.pt"
    torch.save(small_model.float(), path)
    break_fold_norm(monkeypatch, negate_first_conv)
    res = CliRunner().invoke(cli, ["verify", str(path), "--target", "sim", "--data", "random", "--html",
                                   str(tmp_path / "html")])
    assert res.exit_code == 1
    page = (tmp_path / "html" / "index.html").read_text()
    for words in ("Compile options", "Warnings", "Resources", "Artifact checked", "<th>samples</th>",
                  'class="worst"', "worst layer: <b>2</b>", "first divergence", "layer 2 neuron"):
        assert words in page, words
    assert "worst layer: 2 (" in res.output and "first divergence at layer 2 neuron" in res.output
    assert "on 32 samples" in res.output
    table = [line for line in res.output.splitlines() if line[:1] in "┏┃┡│└━┗"]
    assert table and max(len(line) for line in table) <= 100
