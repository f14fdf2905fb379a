"""`snncompile sweep`: accuracy and per-layer agreement against the weight width, as a table, JSON and a PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from snncompile.cli import cli
from snncompile.verification.sweep import parse_bits

MODEL = Path(__file__).parents[2] / "examples" / "models" / "s2nn_mlp.pt"


def test_sweep_writes_table_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = CliRunner().invoke(cli, ["sweep", str(MODEL), "--weight-bits", "3,8", "-n", "40", "-o", str(out),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "weight bits" in result.stdout and "wrote" in result.stdout
    data = json.loads((out / "sweep.json").read_text())
    assert data["format"] == "snncompile-sweep" and [r["bits"] for r in data["rows"]] == [3, 8]
    coarse, fine = data["rows"]
    assert coarse["agreement"] < fine["agreement"] <= 1.0  # 3-bit weights flip more decisions than 8-bit ones
    assert len(fine["layers"]) == 2 and all(0 < v <= 1 for v in fine["layers"].values())
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_weight_bits_flag_reaches_the_quantizer(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["compile", str(MODEL), "--target", "loihi", "--loihi-weight-bits", "4",
                                      "-o", str(out), "--no-check"])
    assert result.exit_code == 0, result.output
    import h5py
    import numpy as np

    with h5py.File(out / "network.net") as f:
        w = np.asarray(f["layer/1/weight"])
    assert np.all(w % 32 == 0) and np.abs(w).max() <= 224 and np.unique(w).size <= 16


def test_bad_bit_ranges_are_usage_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(MODEL), "--weight-bits", "1..9", "-o", str(tmp_path / "s")])
    assert result.exit_code == 2 and "--weight-bits" in result.output
    assert parse_bits("4..6") == [4, 5, 6] and parse_bits("8,4") == [4, 8]
    with pytest.raises(ValueError):
        parse_bits("x")


def test_sweep_refuses_a_target_without_integer_weights(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(MODEL), "--target", "sim", "-n", "4", "-o", str(tmp_path / "s")])
    assert result.exit_code == 2 and "weight_bits" in result.output  # SNC404, a usage error
