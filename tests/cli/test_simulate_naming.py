"""`snncompile simulate` writes the same keys and shapes, time-aligned, for every target (docs/SIMULATE.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile.cli import cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "models" / "mpbn_cnn.pt"
TARGETS = ("sim", "loihi", "onnx", "onnx-loihi")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, np.ndarray], dict]]:
    root = tmp_path_factory.mktemp("naming")
    np.save(root / "x.npy", np.random.default_rng(0).random((4, 3, 1, 8, 8)))
    runner, found = CliRunner(), {}
    for target in TARGETS:
        res = runner.invoke(cli, ["compile", str(EXAMPLE), "-t", target, "-o", str(root / target), "--no-check"])
        assert res.exit_code == 0, res.output
        res = runner.invoke(cli, ["simulate", str(root / target), "--input", str(root / "x.npy"), "-o",
                                  str(root / f"{target}.npz")])
        assert res.exit_code == 0, res.output
        with np.load(root / f"{target}.npz") as data:
            found[target] = ({k: data[k] for k in data.files}, json.loads((root / f"{target}.json").read_text()))
    return found


def test_every_target_writes_the_same_keys_and_shapes(simulated: dict) -> None:
    shapes = {t: {k: v.shape for k, v in values.items()} for t, (values, _) in simulated.items()}
    assert shapes["sim"] == shapes["loihi"] == shapes["onnx"] == shapes["onnx-loihi"]
    # the model's neuron layers (not Loihi's max-pool OR populations 4.0, 7.0) and the readout, by IR name
    assert set(shapes["sim"]) == {"1", "3", "6", "9", "10"}
    assert shapes["loihi"]["1"] == (4, 3, 16, 8, 8) and shapes["loihi"]["10"] == (3, 10)


def test_exact_targets_agree_spike_for_spike(simulated: dict) -> None:
    for a, b in (("sim", "onnx"), ("loihi", "onnx-loihi")):
        for k, v in simulated[a][0].items():
            np.testing.assert_array_equal(v, simulated[b][0][k], err_msg=f"{a} vs {b}: {k}")


def test_loihi_states_the_pipeline_delay_it_removed(simulated: dict) -> None:
    _, meta = simulated["loihi"]
    assert meta["format"] == "snncompile-simulate" and meta["pipeline_latency"] == 6 and meta["timesteps"] == 4
    delays = {name: la["delay_removed"] for name, la in meta["layers"].items()}
    assert delays == {"1": {"1": 1}, "3": {"3": 2}, "6": {"6": 4}, "9": {"9": 6}}
    assert all(la["delay_removed"] == {"1": 0} for la in simulated["sim"][1]["layers"].values()
               if la["populations"] == ["1"])
    assert simulated["onnx-loihi"][1]["pipeline_latency"] == 0
    # time-aligned: the Loihi layer-1 spikes track the float ones step by step (quantized, so not equal)
    float_rate = simulated["sim"][0]["1"].mean(axis=(1, 2, 3, 4))
    loihi_rate = simulated["loihi"][0]["1"].mean(axis=(1, 2, 3, 4))
    assert np.abs(float_rate - loihi_rate).max() < 0.02


def test_an_artifact_without_the_naming_record_is_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["compile", str(EXAMPLE), "-o", str(tmp_path / "a"), "--no-check"]).exit_code == 0
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    del report["simulate"]
    (tmp_path / "a" / "report.json").write_text(json.dumps(report))
    np.save(tmp_path / "x.npy", np.zeros((4, 1, 1, 8, 8)))
    res = runner.invoke(cli, ["simulate", str(tmp_path / "a"), "--input", str(tmp_path / "x.npy"), "-o",
                              str(tmp_path / "r.npz")])
    assert res.exit_code == 1 and "SNC920" in res.output and "compile it again" in res.output
    assert not (tmp_path / "r.npz").exists()


def test_the_sidecar_never_overwrites_the_output() -> None:
    from snncompile.simulate_output import sidecar_path

    assert sidecar_path(Path("a/r.npz")) == Path("a/r.json")
    assert sidecar_path(Path("r")) == Path("r.json")
    assert sidecar_path(Path("r.json")) == Path("r.json.json")
