"""What a plain `pip install snncompile` user meets: a missing extra or Lava environment is a coded error (SNC420,
SNC421) naming what to install, the tolerance has one unit in the CLI and Python, artifacts respect the umask."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from snncompile.cli import cli
from snncompile.verification import verify


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def model_file(small_model: nn.Module, tmp_path: Path) -> Path:
    path = tmp_path / "small.pt"
    torch.save(small_model, path)
    return path


@pytest.fixture
def no_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """no_module("onnxruntime"): importing it raises ImportError, as in an environment without the package."""
    def hide(name: str) -> None:
        monkeypatch.setitem(sys.modules, name, None)
    yield hide


def test_simulating_an_onnx_artifact_without_onnxruntime_names_the_extra(model_file: Path, tmp_path: Path,
                                                                         no_module: object) -> None:
    out = tmp_path / "onnx"
    assert run(str(model_file), "-t", "onnx", "-o", str(out))[0] == 0  # writing ONNX needs only onnx
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((4, 2, 1, 8, 8)))
    no_module("onnxruntime")  # type: ignore[operator]
    code, _, err = run("simulate", str(out), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npz"))
    assert code == 1, err
    assert "SNC420" in err and "pip install 'snncompile[onnx]'" in err and "shape" not in err
    assert not (tmp_path / "y.npz").exists()


def test_verifying_an_onnx_target_without_onnxruntime_names_the_extra(model_file: Path, no_module: object) -> None:
    no_module("onnxruntime")  # type: ignore[operator]
    code, _, err = run("verify", str(model_file), "-t", "onnx", "--data", "random", "-n", "2")
    assert code == 1 and "SNC420" in err and "snncompile[onnx]" in err, err


def test_digits_calibration_without_scikit_learn_is_a_coded_error(model_file: Path, tmp_path: Path,
                                                                  no_module: object) -> None:
    no_module("sklearn")  # type: ignore[operator]
    code, _, err = run(str(model_file), "-t", "loihi", "--loihi-calibration", "digits", "-o", str(tmp_path / "o"))
    assert code == 1, err
    assert "SNC420" in err and "pip install scikit-learn" in err and "internal error" not in err
    assert not (tmp_path / "o").exists()


def test_require_returns_the_module_and_names_a_core_package_by_its_pip_name(no_module: object) -> None:
    from snncompile.errors import CompileError
    from snncompile.extras import require

    assert require("json", feature="x") is json
    no_module("ray")  # type: ignore[operator]
    with pytest.raises(CompileError) as info:
        require("ray", feature="sharding")
    assert info.value.codes == ["SNC420"] and "snncompile[ray]" in info.value.diagnostics[0].hint  # type: ignore[operator]


def test_lava_requested_without_a_lava_environment_fails(model_file: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNNCOMPILE_LAVA_PYTHON", str(tmp_path / "absent" / "python"))
    code, out, err = run("verify", str(model_file), "--data", "random", "-n", "2", "--lava")
    assert code == 1, out + err
    assert "SNC421" in err and "snncompile lava-setup" in err and "all checks passed" not in out
    assert "scripts/" not in err  # the hint works from a wheel install


def test_automatic_lava_stage_without_an_environment_is_reported_skipped(model_file: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNNCOMPILE_LAVA_PYTHON", str(tmp_path / "absent" / "python"))
    code, out, err = run("verify", str(model_file), "--data", "random", "-n", "2")
    assert code == 0, out + err
    assert "warning[SNC421]" in err or "SNC421" in err
    assert "verify: all checks passed (Lava stage skipped" in out


def test_lava_false_skips_silently(small_model: nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNNCOMPILE_LAVA_PYTHON", str(tmp_path / "absent" / "python"))
    report = verify(small_model, "loihi", "random", samples=2, lava=False)
    assert not [d for d in report.problems if d.code == "SNC421"]


def test_tolerance_is_in_points_in_the_cli_and_in_python(small_model: nn.Module, model_file: Path,
                                                         tmp_path: Path) -> None:
    code, out, err = run("verify", str(model_file), "-t", "sim", "--data", "random", "-n", "2", "--tolerance", "2.5",
                         "--json", str(tmp_path / "cli.json"))
    assert code == 0, out + err
    verify(model_file, "sim", "random", samples=2, tolerance=2.5, json_path=tmp_path / "py.json")
    cli_json, py_json = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("cli", "py"))
    assert cli_json["accuracy"]["tolerance"] == py_json["accuracy"]["tolerance"] == pytest.approx(0.025)


def test_the_tolerance_decides_the_same_way_in_the_cli_and_in_python() -> None:
    """A 1.5-point drop fails at --tolerance 1 and passes at 2, in both entry points' unit (the CLI hands its
    value to verify() unchanged; _checks reads the fraction verify() stores)."""
    from types import SimpleNamespace

    from snncompile.verification.core import DEFAULT_TOLERANCE, _checks

    assert DEFAULT_TOLERANCE == 1.0
    for points, fails in ((1.0, True), (2.0, False)):
        stats = SimpleNamespace(pairs=[], not_recorded={}, logit_error={}, logit_scale=0.0, reference_dtype="float64")
        report = SimpleNamespace(stats=stats, layers=[], reference="pytorch", final="sim", tolerance=points / 100,
                                 accuracy={"pytorch": 0.9, "sim": 0.885}.get)
        assert any(d.code == "SNC901" for d in _checks(report)) is fails  # type: ignore[arg-type]


def _modes(root: Path) -> set[tuple[str, int]]:
    return {("d" if p.is_dir() else "f", stat.S_IMODE(p.stat().st_mode)) for p in [root, *root.rglob("*")]}


@pytest.mark.parametrize("mask, dirs, files", [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_artifacts_respect_the_umask(model_file: Path, tmp_path: Path, mask: int, dirs: int, files: int) -> None:
    old = os.umask(mask)
    try:
        out = tmp_path / "out"
        assert run(str(model_file), "-t", "sim", "-o", str(out))[0] == 0
        assert run(str(model_file), "-t", "sim", "-o", str(out))[0] == 0  # the replacing path too
        code, _, err = run("verify", str(out), "--data", "random", "-n", "2", "--json", str(tmp_path / "r.json"),
                           "--html", str(tmp_path / "html"))
        assert code == 0, err
    finally:
        os.umask(old)
    for root in (out, tmp_path / "html"):
        assert _modes(root) == {("d", dirs), ("f", files)}, root
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == files
