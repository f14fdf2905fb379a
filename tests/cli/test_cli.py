"""End-to-end tests of the `snncompile` command line: exit codes, diagnostics, artifacts, safe loading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import snncompile.nn as snn
from snncompile.cli import cli

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "models").glob("*.pt"))


class UnknownNet(nn.Module):
    """A user architecture that is not on the safe-loading allowlist."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.lif = snn.LIF()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(self.fc(x))


def build_unknown() -> nn.Module:
    return UnknownNet()


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(snn.TimeDistributed(nn.Conv2d(1, 4, 3, 1, 1), nn.BatchNorm2d(4)), snn.LIF(v_th=0.3),
                          snn.TimeDistributed(nn.Flatten()), snn.Readout(4 * 6 * 6, 3))
    model.input_shape, model.timesteps = (1, 6, 6), 5
    return model.eval()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.pt"
    torch.save(small_model(), path)
    return path


def test_compile_writes_artifact_and_check_passes(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run(str(model_file), "--target", "sim", "-o", str(out))
    assert code == 0, stderr
    assert "all layers identical" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["graph.json", "graph.npz", "graph.txt", "report.json"]
    report = json.loads((out / "report.json").read_text())
    assert report["tool"] == "snncompile" and report["target"] == "sim"
    assert report["input_shape"] == [1, 6, 6] and report["timesteps"] == 5
    assert [p["pass"] for p in report["passes"]] and report["layers"]


def test_check_samples_sets_the_number_of_random_inputs(model_file: Path) -> None:
    code, stdout, stderr = run(str(model_file), "--target", "sim", "--check-samples", "5")
    assert code == 0, stderr
    assert "check on 5 random inputs" in stdout and "all layers identical" in stdout
    assert run(str(model_file), "--check-samples", "0")[0] == 2


def test_simulate_artifact_matches_model(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(str(model_file), "-o", str(out), "--no-check")[0] == 0
    x = np.random.default_rng(0).random((5, 2, 1, 6, 6))
    np.save(tmp_path / "x.npy", x)
    code, _, stderr = run("simulate", str(out), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "r.npz"))
    assert code == 0, stderr
    model = small_model().double()
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with np.load(tmp_path / "r.npz") as r:
        assert np.abs(r["3"] - expected).max() < 1e-12


def test_unsupported_module_exits_1_with_path_and_hint(tmp_path: Path) -> None:
    model = nn.Sequential(snn.TimeDistributed(nn.Flatten()), nn.LSTM(4, 4))
    model.input_shape = (4,)
    path = tmp_path / "lstm.pt"
    torch.save(model, path)
    code, stdout, stderr = run(str(path), "--trust-pickle", "-o", str(tmp_path / "out"))
    assert code == 1
    assert "SNC100" in stderr and "`1`" in stderr and "torch.nn.modules.rnn.LSTM" in stderr
    assert "register_converter" in stderr and "Traceback" not in stderr + stdout
    assert not (tmp_path / "out").exists()


def test_unknown_pickled_class_is_refused_by_default(tmp_path: Path) -> None:
    path = tmp_path / "unknown.pt"
    torch.save(UnknownNet(), path)
    code, _, stderr = run("inspect", str(path), "--input-shape", "4")
    assert code == 1
    assert "SNC103" in stderr and "UnknownNet" in stderr and "--trust-pickle" in stderr and "--factory" in stderr


def test_trust_pickle_opt_in_loads_unknown_class(tmp_path: Path) -> None:
    path = tmp_path / "unknown.pt"
    torch.save(UnknownNet(), path)
    code, stdout, stderr = run("inspect", str(path), "--input-shape", "4", "--trust-pickle")
    assert code == 0, stderr
    assert "lif" in stdout


def test_factory_with_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(UnknownNet().state_dict(), path)
    code, stdout, stderr = run("inspect", str(path), "--input-shape", "4",
                               "--factory", f"{__name__}:build_unknown")
    assert code == 0, stderr
    assert "dense" in stdout


def test_state_dict_without_factory_gives_hint(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(UnknownNet().state_dict(), path)
    code, _, stderr = run("inspect", str(path))
    assert code == 1 and "SNC104" in stderr and "--factory" in stderr


def test_usage_error_exits_2(model_file: Path) -> None:
    assert run(str(model_file), "--input-shape", "a,b")[0] == 2
    assert run(str(model_file), "--no-such-flag")[0] == 2


def test_unknown_target_is_a_usage_error(model_file: Path) -> None:
    code, _, stderr = run(str(model_file), "--target", "nope")
    assert code == 2 and "SNC400" in stderr and "sim" in stderr


def test_internal_error_exits_3_without_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from snncompile.passes import canonicalize

    def crash(self: object, graph: object, ctx: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(canonicalize.Canonicalize, "run", crash)
    path = tmp_path / "small.pt"
    torch.save(small_model(), path)
    code, _, stderr = run(str(path), "-o", str(tmp_path / "out"))
    assert code == 3
    assert "pass canonicalize" in stderr and "ZeroDivisionError" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


def test_existing_foreign_directory_is_not_replaced(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("do not lose me")
    code, _, stderr = run(str(model_file), "-o", str(out))
    assert code == 1 and "SNC402" in stderr
    assert (out / "thesis.tex").read_text() == "do not lose me"


def test_recompile_replaces_own_output(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(str(model_file), "-o", str(out), "--no-check")[0] == 0
    assert run(str(model_file), "-o", str(out), "--no-check")[0] == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_print_ir_after_and_time_passes(model_file: Path) -> None:
    code, _, stderr = run(str(model_file), "--print-ir-after", "all", "--time-passes", "--no-check")
    assert code == 0
    assert "IR after canonicalize" in stderr and "%  pass canonicalize" in stderr


def test_list_targets_and_passes() -> None:
    code, stdout, _ = run("--list-targets")
    assert code == 0 and "sim " in stdout
    code, stdout, _ = run("--list-passes")
    assert code == 0 and "canonicalize" in stdout


@pytest.mark.parametrize("model", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_inspect_every_shipped_model(model: Path) -> None:
    code, stdout, stderr = run("inspect", str(model))
    assert code == 0, stderr
    assert "per-layer summary" in stdout and "readout" in stdout and "total" in stdout


def test_console_script_runs_as_subprocess(model_file: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("snncompile")
    proc = subprocess.run([str(exe), str(model_file), "-o", str(tmp_path / "o")], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "all layers identical" in proc.stdout
