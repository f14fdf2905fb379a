"""verify() for the ONNX targets: the exported step model in onnxruntime is a stage, exact to the one before."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from onnx import numpy_helper
from torch import nn

from snncompile.verification import verify


def test_onnx_loihi_stage_equals_the_bit_exact_stage(example: Callable[[str], Path], tmp_path: Path) -> None:
    report = verify(example("mpbn_cnn"), "onnx-loihi", "digits", samples=40, json_path=tmp_path / "r.json")
    assert report.ok, [d.render() for d in report.problems]
    assert [s.name for s in report.stats.stages][-2:] == ["bit-exact", "onnxruntime"]
    assert report.pair("bit-exact", "onnxruntime").overall == 1.0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["compiled_stage"] == "onnxruntime"
    assert data["accuracy"]["compiled"] >= data["accuracy"]["reference"] - 0.05
    assert data["resources"]["assumptions"]["weight_bits"] == 8


def test_onnx_float_stage_equals_the_lowered_stage(small_model: nn.Module) -> None:
    report = verify(small_model, "onnx", "random")
    assert report.ok, [d.render() for d in report.problems]
    assert [s.name for s in report.stats.stages] == ["pytorch", "traced", "lowered", "onnxruntime"]
    assert report.pair("pytorch", "onnxruntime").overall == 1.0


def _tampered(export: Callable[[object], onnx.ModelProto]) -> Callable[[object], onnx.ModelProto]:
    """An export whose first integer weight matrix has its first output row negated (a sign slip)."""
    def broken(graph: object) -> onnx.ModelProto:
        model = export(graph)
        for i, t in enumerate(model.graph.initializer):
            w = numpy_helper.to_array(t)
            if t.name.endswith("weight") and w.ndim >= 2:
                w = w.copy()
                w[0] = -w[0]
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(w, t.name))
                return model
        raise AssertionError("no weight initializer found")
    return broken


def test_a_wrong_onnx_export_is_caught(example: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from snncompile.targets.onnx import fixed_export as onnx_fixed_export

    monkeypatch.setattr(onnx_fixed_export, "export_fixed_step", _tampered(onnx_fixed_export.export_fixed_step))
    report = verify(example("s2nn_mlp"), "onnx-loihi", "digits", samples=60)
    assert not report.ok
    assert any(d.code == "SNC900" and "onnxruntime" in d.message for d in report.problems), \
        [d.render() for d in report.problems]
    assert report.pair("bit-exact", "onnxruntime").overall < 1.0
