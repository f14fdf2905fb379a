"""The verify report: samples per stage, worst layer, compile options, warnings, resources, 100 columns
(issue 14, point 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from snncompile import ir
from snncompile.cli import cli
from snncompile.passes.fold_norm import FoldNorm


def _broken_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    original = FoldNorm.run

    def broken(self: FoldNorm, graph: ir.Graph, ctx: object) -> ir.Graph:
        out = original(self, graph, ctx)  # type: ignore[arg-type]
        conv = out.of_kind(ir.Conv2d)[0]
        return out.with_nodes([n.replace(weight=-conv.weight) if n is conv else n for n in out.nodes])

    monkeypatch.setattr(FoldNorm, "run", broken)


def test_html_and_terminal_report_layout(small_model: nn.Module, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "small.pt"
    torch.save(small_model.float(), path)
    _broken_fold(monkeypatch)
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
