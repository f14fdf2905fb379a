"""The `onnx-loihi` target: one timestep of the Loihi fixed-point graph as an ONNX model in integer arithmetic."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import onnx

from snncompile import ir
from snncompile.passes import Pipeline, Rule
from snncompile.targets.base import TARGETS, Target, register_target
from snncompile.targets.loihi import LOIHI
from snncompile.targets.loihi.caps import LOIHI_CAPABILITIES

ONNX_LOIHI_CAPABILITIES = dataclasses.replace(LOIHI_CAPABILITIES, notes=(
    *LOIHI_CAPABILITIES.notes,
    "exported as one ONNX step of the compacted graph (no hop delays); state:<lif> [2, B, ..] = (u, v)",
    "Lava's truncation, 24-bit current wrap and voltage saturation computed exactly in float64",
))


class OnnxLoihiTarget(Target):
    """Compiles exactly as target `loihi` (its current options, e.g. --loihi-calibration), emits model.onnx."""

    @staticmethod
    def loihi() -> Target:
        return TARGETS.get("loihi", LOIHI)

    def pipeline(self) -> Pipeline:
        return self.loihi().pipeline()

    def rules(self) -> tuple[Rule, ...]:
        return self.loihi().rules()

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        from snncompile.onnx_driver import copy_driver
        from snncompile.targets.onnx_fixed_export import ARITHMETIC, export_fixed_step

        model = export_fixed_step(graph)
        path = directory / "model.onnx"
        onnx.save(model, str(path))
        driver = copy_driver(directory)
        report["loihi"] = {k: graph.metadata["loihi"][k] for k in ("latency", "period", "input")}
        report["onnx"] = {
            "step_model": path.name, "arithmetic": ARITHMETIC,
            "driver": f"python {driver.name} {path.name} x.npy out.npz (numpy, onnx, onnxruntime; also "
                      "snncompile.onnx_driver.run_onnx)",
            "steps": graph.timesteps, "reproduces": "simulate_loihi(graph, x, pipelined=False)",
            "states": [i.name for i in model.graph.input if i.name.startswith("state:")],
            "functions": sorted({f.name for f in model.functions}),
        }
        return [path, driver]


ONNX_LOIHI = register_target(OnnxLoihiTarget(
    "onnx-loihi", "one timestep of the Loihi fixed-point graph as ONNX (model.onnx, Lava's integer arithmetic "
    "in float64); onnxruntime reproduces the bit-exact simulator", ONNX_LOIHI_CAPABILITIES))
