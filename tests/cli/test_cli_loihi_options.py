"""The --loihi-* compile options: they reach the quantizer, are refused for other targets, and bad data is named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from snncompile.cli import cli

MODEL = Path(__file__).parents[2] / "examples" / "models" / "s2nn_mlp.pt"


def _compile(tmp_path: Path, *flags: str) -> tuple[int, str, dict]:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["compile", str(MODEL), "--target", "loihi", "-o", str(out), "--no-check",
                                      *flags])
    report = json.loads((out / "report.json").read_text()) if result.exit_code == 0 else {}
    return result.exit_code, result.output, report


def test_input_bits_and_calibration_reach_the_encoding(tmp_path: Path) -> None:
    code, output, default = _compile(tmp_path / "a")
    assert code == 0, output
    code, output, narrow = _compile(tmp_path / "b", "--loihi-input-bits", "3")
    assert code == 0, output
    code, output, calibrated = _compile(tmp_path / "c", "--loihi-calibration", "digits")
    assert code == 0, output
    assert narrow["loihi"]["input"]["high"] <= 7 < default["loihi"]["input"]["high"]
    # the digits pixels are multiples of 1/16 with peak 1: calibration finds that grid, so payloads are exact
    assert calibrated["loihi"]["input"]["scale"] == 16.0 != default["loihi"]["input"]["scale"]


def test_binary_encoding_flag(tmp_path: Path) -> None:
    code, output, report = _compile(tmp_path, "--loihi-input-encoding", "binary")
    assert code == 0, output
    assert report["loihi"]["input"]["kind"] == "binary"


def test_calibration_file_in_frames(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((40, 1, 8, 8)).round(1)  # images, direct-encoded over T
    np.savez(tmp_path / "cal.npz", x=x)
    code, output, report = _compile(tmp_path, "--loihi-calibration", str(tmp_path / "cal.npz"))
    assert code == 0, output
    assert report["loihi"]["input"]["scale"] == 10.0  # the data's 0.1 grid


def test_bad_calibration_file_is_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 5)))
    code, output, _ = _compile(tmp_path, "--loihi-calibration", str(tmp_path / "bad.npz"))
    assert code == 1
    assert "SNC902" in output and "bad.npz" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_loihi_flags_refused_for_other_targets(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["compile", str(MODEL), "--target", "sim", "--loihi-input-bits", "4"])
    assert result.exit_code == 2
    assert "--loihi-input-bits" in result.output


def test_allow_flag_reaches_the_quantizer_and_unknown_values_are_refused(tmp_path: Path) -> None:
    import pytest

    import snncompile
    from snncompile.errors import CompileError

    code, output, _ = _compile(tmp_path, "--loihi-allow", "non-strict")
    assert code == 0, output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["approximations"] == []  # s2nn_mlp has nothing to approximate
    with pytest.raises(CompileError) as info:
        snncompile.compile(MODEL, "loihi", options={"allow": ["rounding"]})
    assert info.value.codes == ["SNC619"]
    result = CliRunner().invoke(cli, ["compile", str(MODEL), "--target", "nir", "--loihi-allow", "non-strict"])
    assert result.exit_code == 2 and "--loihi-allow" in result.output
