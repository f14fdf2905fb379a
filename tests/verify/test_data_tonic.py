"""tonic event datasets for verify: tiny N-MNIST and DVS-Gesture sets in tonic's on-disk layout, binned to T frames."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers.event_datasets import make_dvsgesture, make_nmnist
from torch import nn

import snncompile.nn as snn
from snncompile.cli import cli
from snncompile.errors import CompileError
from snncompile.verification import verify
from snncompile.verification.data import load_data


def _codes(exc: pytest.ExceptionInfo[CompileError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


def event_model(side: int = 17, classes: int = 10) -> nn.Sequential:
    """A small spiking CNN on 2 x side x side event frames, T = 4, every layer Loihi-legal."""
    torch.manual_seed(0)
    hidden = ((side + 1) // 2) ** 2 * 4
    model = nn.Sequential(
        snn.TimeDistributed(nn.Conv2d(2, 4, 3, 2, 1, bias=False)), snn.LIF(),
        snn.TimeDistributed(nn.Flatten(), nn.Linear(hidden, 16)), snn.LIF(),
        snn.Readout(16, classes),
    )
    model.input_shape, model.timesteps = (2, side, side), 4
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(4.0)
    return model.eval()


def test_nmnist_frames_are_tonics_own_binning(tmp_path: Path) -> None:
    tonic = pytest.importorskip("tonic")
    written = make_nmnist(tmp_path, per_class=2, classes=3)
    data = load_data("tonic:NMNIST", (2, 17, 17), 4, 10, data_root=tmp_path)
    desc = data.describe()
    assert desc["kind"] == "tonic" and desc["downsample"] == 2 and "n_time_bins=4" in desc["transform"]
    frames, labels = data.frames, data.labels
    assert frames.shape == (4, 6, 2, 17, 17) and labels.tolist() == [0, 0, 1, 1, 2, 2]
    reader = tonic.datasets.NMNIST.dtype
    transform = tonic.transforms.Compose([tonic.transforms.Downsample(spatial_factor=0.5),
                                          tonic.transforms.ToFrame(sensor_size=(17, 17, 2), n_time_bins=4)])
    for i, ev in enumerate(written):
        events = tonic.io.read_mnist_file(str(sorted((tmp_path / "NMNIST" / "Test" / str(ev["label"])).glob("*.bin"))
                                              [i % 2]), dtype=reader)
        assert np.array_equal(events["x"], ev["x"]) and np.array_equal(events["t"], ev["t"])  # our encoder
        assert np.array_equal(frames[:, i], transform(events))
    whole = load_data("tonic:NMNIST", (2, 34, 34), 4, 10, data_root=tmp_path)
    counts = whole.frames.sum(axis=(0, 2, 3, 4))
    assert np.all(counts >= 299) and np.all(counts <= 300)  # tonic's last time bin may leave out the final event
    assert data.calibration is None  # no training split extracted: nothing to calibrate on
    make_nmnist(tmp_path, per_class=1, classes=2, split="Train", seed=5)
    calibrated = load_data("tonic:NMNIST", (2, 17, 17), 4, 10, data_root=tmp_path)
    assert calibrated.calibration is not None and calibrated.calibration.shape == (4, 2, 2, 17, 17)
    assert calibrated.samples == 6  # the scored samples stay the test split


def test_verify_cli_on_a_tonic_nmnist_set(tmp_path: Path) -> None:
    pytest.importorskip("tonic")
    make_nmnist(tmp_path / "root", per_class=2, classes=3)
    path = tmp_path / "events.pt"
    torch.save(event_model(), path)
    res = CliRunner().invoke(cli, ["verify", str(path), "--target", "sim", "--data", "tonic:NMNIST", "--data-root",
                                   str(tmp_path / "root"), "--json", str(tmp_path / "v.json")])
    assert res.exit_code == 0, res.output
    assert "data: tonic tonic:NMNIST" in res.output and "tonic.transforms.ToFrame(sensor_size=(17, 17, 2), " \
        "n_time_bins=4)" in res.output
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["data"]["samples"] == 6 and report["data"]["labelled"]
    assert report["data"]["source"]["transform"].startswith("tonic.transforms.Downsample(spatial_factor=1/2)")
    assert report["data"]["source"]["calibration_samples"] is None  # no Train folder
    assert "calibration data offered to the target: none" in res.output
    assert report["accuracy"]["reference"] is not None


def test_verify_loihi_on_dvsgesture_through_the_python_api(tmp_path: Path) -> None:
    pytest.importorskip("tonic")
    make_dvsgesture(tmp_path)
    report = verify(event_model(side=32, classes=11), "loihi", "tonic:DVSGesture", data_root=tmp_path, lava=False)
    assert report.stats.samples == 3 and report.stats.labelled
    assert report.data.describe()["downsample"] == 4
    assert not [d for d in report.problems if d.code == "SNC900"], report.problems


def test_tonic_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CompileError) as exc:
        load_data("tonic:NMNIST", (2, 34, 34), 4, data_root=tmp_path)
    assert _codes(exc) == ["SNC914"] and "NMNIST/Test" in exc.value.diagnostics[0].message
    assert "<digit 0-9>/<id>.bin" in exc.value.diagnostics[0].hint
    with pytest.raises(CompileError) as exc:
        load_data("tonic:NMNIST", (2, 34, 34), 4)
    assert _codes(exc) == ["SNC914"] and "--data-root" in exc.value.diagnostics[0].hint
    make_nmnist(tmp_path, per_class=1, classes=1)
    monkeypatch.setitem(sys.modules, "tonic", None)  # tonic not installed
    with pytest.raises(CompileError) as exc:
        load_data("tonic:NMNIST", (2, 34, 34), 4, data_root=tmp_path)
    assert _codes(exc) == ["SNC916"] and "snncompile[datasets]" in exc.value.diagnostics[0].hint
    monkeypatch.undo()
    pytest.importorskip("tonic")
    for shape in ((2, 30, 30), (1, 34, 34), (2, 17, 34)):
        with pytest.raises(CompileError) as exc:
            load_data(f"tonic:NMNIST@{tmp_path}", shape, 4)
        assert _codes(exc) == ["SNC915"] and "[2, 34, 34]" in exc.value.diagnostics[0].message
    if importlib.util.find_spec("aedat") is None:
        (tmp_path / "CIFAR10DVS" / "airplane").mkdir(parents=True)
        (tmp_path / "CIFAR10DVS" / "airplane" / "0.aedat4").write_bytes(b"")
        with pytest.raises(CompileError) as exc:
            load_data("tonic:CIFAR10DVS", (2, 32, 32), 4, data_root=tmp_path)
        assert _codes(exc) == ["SNC916"] and "aedat" in exc.value.diagnostics[0].hint
    with pytest.raises(CompileError) as exc:
        load_data("tonic:NotADataset", (2, 34, 34), 4, data_root=tmp_path)
    assert _codes(exc) == ["SNC910"] and "NMNIST" in exc.value.diagnostics[0].hint


def test_cli_tonic_files_missing(tmp_path: Path) -> None:
    path = tmp_path / "events.pt"
    torch.save(event_model(side=34), path)
    res = CliRunner().invoke(cli, ["verify", str(path), "--target", "sim", "--data", "tonic:NMNIST", "--data-root",
                                   str(tmp_path)])
    assert res.exit_code == 1 and "error[SNC914]" in res.output and "never downloads" in res.output
