"""verify(): every stage on the same inputs, exactness of the float stages, accuracy, broken compiles caught."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers.broken_fold import break_fold_norm, flip_first_conv_channel
from torch import nn

from snncompile.verification import data as verify_data
from snncompile.verification import verify


def test_sim_target_float_stages_agree_exactly(small_model: nn.Module, tmp_path: Path) -> None:
    report = verify(small_model, "sim", "random", json_path=tmp_path / "r.json")
    assert report.ok, [d.render() for d in report.problems]
    assert [s.name for s in report.stats.stages] == ["pytorch", "traced", "lowered"]
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ok"] and len(data["layers"]) == 2
    assert all(la["agreement"]["pytorch→lowered"] == 1.0 for la in data["layers"])
    assert data["accuracy"]["reference"] is None  # random data has no labels
    rates = [la["rate"]["pytorch"] for la in data["layers"]]
    assert all(0.0 < r < 1.0 for r in rates), "a trivial (silent or saturated) network proves nothing"
    assert data["resources"]["totals"]["synops_basis"] == "measured spike rates"


def test_a_fold_with_a_wrong_sign_is_caught_at_its_layer(small_model: nn.Module,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    break_fold_norm(monkeypatch, flip_first_conv_channel)
    report = verify(small_model, "sim", "random")
    assert not report.ok
    (problem,) = [d for d in report.problems if d.code == "SNC900" and "lowered disagrees with traced" in d.message]
    first = report.pair("traced", "lowered").first_divergence(report.layers)
    assert first.origin == "2"  # the LIF right after the broken fold, not a later layer
    assert problem.origin == "2" and "first diverging: layer 2" in problem.message
    assert report.pair("pytorch", "traced").overall == 1.0  # the frontend is not blamed


def test_loihi_s2nn_accuracy_within_one_point(example: Callable[[str], Path], tmp_path: Path) -> None:
    report = verify(example("s2nn_mlp"), "loihi", "digits", samples=90, lava=False, json_path=tmp_path / "r.json",
                    html_dir=tmp_path / "html")
    data = json.loads((tmp_path / "r.json").read_text())
    acc = data["accuracy"]
    assert abs(acc["compiled"] - acc["reference"]) <= 0.01, acc
    assert report.pair("pytorch", "lowered").overall == 1.0
    assert data["compiled_stage"] == "bit-exact"
    quant = data["layers"][0]["quantization"]
    assert 0 < quant["weight_rel_error"] < 0.1 and quant["vth"] >= 64
    for name in ("index.html", "rasters.png", "rates.png", "agreement.png", "quantization.png"):
        assert (tmp_path / "html" / name).stat().st_size > 500
    assert "bit-exact" in (tmp_path / "html" / "index.html").read_text()


def test_loihi_stages_are_time_aligned_through_the_pipeline(example: Callable[[str], Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_data, "CALIBRATION_SAMPLES", 16)  # a faster compile
    report = verify(example("tdbn_resnet"), "loihi", "digits", samples=6, scheduled=True, lava=False)
    names = [s.name for s in report.stats.stages]
    assert names == ["pytorch", "traced", "lowered", "scheduled", "bit-exact"]
    assert report.pair("lowered", "scheduled").overall == 1.0  # latency shift undone exactly
    assert report.pair("scheduled", "bit-exact").overall > 0.85


def test_lava_reproduces_the_bit_exact_stage(small_model: nn.Module) -> None:
    from snncompile.verification.lava import lava_python

    if lava_python() is None:
        pytest.skip("no .venv-lava (scripts/setup_lava.sh)")
    report = verify(small_model, "loihi", "random", lava=True, lava_samples=2)
    pair = report.pair("bit-exact", "lava")
    assert pair is not None and pair.overall == 1.0, [d.render() for d in report.problems]
    assert len(pair.decisions) == len(report.layers) == 2
    assert report.to_json()["stages"][-1] == {"name": "lava", "description": pair_description(report), "exact": True,
                                              "samples": 2}


def pair_description(report: object) -> str:
    return next(s.description for s, _ in report.stats.extra)  # type: ignore[attr-defined]


def test_loihi_options_compose_with_the_data_calibration(example: Callable[[str], Path]) -> None:
    report = verify(example("s2nn_mlp"), "loihi", "digits", samples=30, lava=False, options={"input_bits": 3})
    meta = report.compiled.result.graph.metadata["loihi"]
    assert meta["input"]["high"] <= 7  # the caller's option
    assert all(row["a_measured"] is not None for row in meta["overflow"])  # the data's calibration
    calibration = np.zeros((1, 4, 1, 8, 8))
    # the caller's calibration wins: all-zero data is binary
    report = verify(example("s2nn_mlp"), "loihi", "digits", samples=30, lava=False,
                    options={"calibration": calibration})
    assert report.compiled.result.graph.metadata["loihi"]["input"]["kind"] == "binary"
