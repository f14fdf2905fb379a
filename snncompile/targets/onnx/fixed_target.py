"""The `onnx-loihi` target: one timestep of the Loihi fixed-point graph as an ONNX model in integer arithmetic."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snncompile import ir
from snncompile.passes import Pipeline, Rule
from snncompile.targets.base import Target
from snncompile.targets.loihi.caps import LOIHI_CAPABILITIES, LoihiOptions
from snncompile.targets.loihi.target import LoihiTarget, calibrated, loihi_report

ONNX_LOIHI_CAPABILITIES = dataclasses.replace(LOIHI_CAPABILITIES, runtime="onnxruntime", notes=(
    *LOIHI_CAPABILITIES.notes,
    "exported as one ONNX step of the compacted graph (no hop delays); state:<lif> [2, B, ..] = (u, v)",
    "Lava's truncation, 24-bit current wrap and voltage saturation computed exactly in float64",
))


@dataclass(frozen=True)
class OnnxLoihiTarget(Target[LoihiOptions]):
    """Compiles exactly as target `loihi` with the same LoihiOptions (e.g. --loihi-calibration), emits model.onnx."""

    name = "onnx-loihi"
    description = ("one timestep of the Loihi fixed-point graph as ONNX (model.onnx, Lava's integer arithmetic "
                   "in float64); onnxruntime reproduces the bit-exact simulator")
    capabilities = ONNX_LOIHI_CAPABILITIES
    options_type = LoihiOptions
    flag_prefix = "loihi"

    def loihi(self) -> LoihiTarget:
        return LoihiTarget(self.options)

    def pipeline(self) -> Pipeline:
        return self.loihi().pipeline()

    def rules(self) -> tuple[Rule, ...]:
        return self.loihi().rules()

    def for_verification(self, calibration: object) -> OnnxLoihiTarget:
        return OnnxLoihiTarget(calibrated(self.options, calibration))

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        import onnx

        from snncompile.formats.onnx_naming import ARITHMETIC
        from snncompile.targets.onnx.driver import copy_driver
        from snncompile.targets.onnx.fixed_export import export_fixed_step

        model = export_fixed_step(graph)
        path = directory / "model.onnx"
        onnx.save(model, str(path))
        driver = copy_driver(directory)
        report["loihi"] = loihi_report(graph)
        report["onnx"] = {
            "step_model": path.name, "arithmetic": ARITHMETIC,
            "driver": f"python {driver.name} {path.name} x.npy out.npz (numpy, onnx, onnxruntime; also "
                      "snncompile.targets.onnx.driver.run_onnx)",
            "steps": graph.timesteps, "reproduces": "simulate_loihi(graph, x, pipelined=False)",
            "states": [i.name for i in model.graph.input if i.name.startswith("state:")],
            "functions": sorted({f.name for f in model.functions}),
        }
        return [path, driver]



ONNX_LOIHI = OnnxLoihiTarget()
