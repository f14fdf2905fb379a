"""`snncompile verify OUT_DIR` verifies the artifact compile wrote, as written (issue 14, point 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from snncompile.cli import cli
from snncompile.datasets import digits_split
from snncompile.targets.loihi.artifact import simulate_artifact
from snncompile.verification.data import encode, load_data


def _compile(model: Path, out: Path, *flags: str) -> None:
    res = CliRunner().invoke(cli, ["compile", str(model), "-t", "loihi", "-o", str(out), "--no-check", *flags])
    assert res.exit_code == 0, res.output


def _on_disk_accuracy(out: Path, samples: int | None = None) -> float:
    """The accuracy of the files on disk, run by the bit-exact simulator directly (not through verify)."""
    _, _, x_te, y_te = digits_split()
    x_te, y_te = x_te[:samples], y_te[:samples]
    manifest = json.loads((out / "manifest.json").read_text())
    steps = int(manifest.get("timesteps") or json.loads((out / "report.json").read_text())["timesteps"])
    graph, result = simulate_artifact(out, encode(x_te, steps))
    logits = result[graph.outputs[0]]
    return float(np.mean(logits.argmax(1) == y_te))


def test_verify_out_dir_reproduces_the_accuracy_of_the_artifact_on_disk(example, tmp_path: Path) -> None:
    out = tmp_path / "s2nn"
    _compile(example("s2nn_mlp"), out)
    res = CliRunner().invoke(cli, ["verify", str(out), "--data", "digits", "--json", str(tmp_path / "v.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "v.json").read_text())
    assert data["artifact"]["directory"] == str(out) and data["artifact"]["identical_to_recompile"]
    assert data["artifact"]["options"]["calibration"] is None  # compiled without calibration: verified so
    assert data["accuracy"]["compiled"] == pytest.approx(_on_disk_accuracy(out), abs=1e-12)
    assert f"artifact checked: {out} (byte-identical to its recompilation)" in res.output


def test_verify_out_dir_with_a_recorded_calibration(example, tmp_path: Path) -> None:
    out = tmp_path / "cal"
    _compile(example("s2nn_mlp"), out, "--loihi-calibration", "digits")
    res = CliRunner().invoke(cli, ["verify", str(out), "--data", "digits", "-n", "100", "--json",
                                   str(tmp_path / "v.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "v.json").read_text())
    assert data["artifact"]["options"]["calibration"] == {"spec": "digits"}
    assert data["accuracy"]["compiled"] == pytest.approx(_on_disk_accuracy(out, 100), abs=1e-12)


def test_edited_artifact_or_changed_model_is_refused(example, tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    model.write_bytes(example("s2nn_mlp").read_bytes())
    out = tmp_path / "a"
    _compile(model, out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "edited": True}))
    res = CliRunner().invoke(cli, ["verify", str(out), "--data", "digits", "-n", "20"])
    assert res.exit_code == 1 and "SNC906" in res.output and "manifest.json" in res.output
    assert "DIFFERS from its recompilation" in res.output
    model.write_bytes(model.read_bytes() + b"\0")
    res = CliRunner().invoke(cli, ["verify", str(out), "--data", "digits", "-n", "20"])
    assert res.exit_code == 1 and "SNC906" in res.output and "changed since" in res.output


def test_verify_model_names_the_artifact_it_checked(small_model: nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "small.pt"
    torch.save(small_model.float(), path)
    res = CliRunner().invoke(cli, ["verify", str(path), "--data", "random", "--json", str(tmp_path / "v.json")])
    assert res.exit_code == 0, res.output
    art = json.loads((tmp_path / "v.json").read_text())["artifact"]
    assert art["directory"] is None and set(art["files"]) == {"manifest.json", "network.net"}
    assert art["options"]["calibration"]["array_sha256"] and art["model_sha256"]
    assert "artifact checked: the one `compile -t loihi` writes" in res.output


def test_calibration_is_never_the_scored_samples_by_default(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).random((6, 1, 8, 8)), y=np.arange(6))
    assert load_data(tmp_path / "d.npz", (1, 8, 8), 2).calibration is None
    assert load_data(tmp_path / "d.npz", (1, 8, 8), 2, calibrate_on_scored=True).calibration is not None
    rnd = load_data("random", (1, 8, 8), 2)
    assert not np.array_equal(rnd.calibration, rnd.frames)
    digits = load_data("digits", (1, 8, 8), 2)
    scored = {row.tobytes() for row in digits.frames[0]}
    assert not any(row.tobytes() in scored for row in digits.calibration[0])
