"""The `onnx` target: one timestep of the float graph as an ONNX model (state in/out; a driver loops over T)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snncompile import ir
from snncompile.ir.ops_ext import LIFExt
from snncompile.passes import Pipeline, Rule
from snncompile.passes.pipelines import float_pipeline
from snncompile.targets.base import Capabilities, NoOptions, Target, supported_ops_rule

ONNX_CAPABILITIES = Capabilities(
    ops=frozenset({ir.Input, ir.Dense, ir.Conv2d, ir.Pool2d, ir.MaxPool2d, ir.Flatten, ir.Add, ir.LIF, LIFExt,
                   ir.Readout}),
    per_neuron_thresholds=True, number_format="float64", runtime="onnxruntime",
    notes=("one step per call; neuron state is an explicit input/output (state:<n> → state_next:<n>)",
           "delayed edges read delay lines, also explicit (delay:<n> → delay_next:<n>, taps <n>@<d>)",
           "neurons, conv and pooling are functions in domain 'snncompile' with standard-operator bodies"))


@dataclass(frozen=True)
class OnnxTarget(Target[NoOptions]):
    name = "onnx"
    description = "one timestep as ONNX (model.onnx, float64, neuron state as inputs/outputs); onnxruntime runs it"
    capabilities = ONNX_CAPABILITIES

    def pipeline(self) -> Pipeline:
        return float_pipeline()

    def rules(self) -> tuple[Rule, ...]:
        return (supported_ops_rule(self.capabilities, self.name),)

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        import onnx

        from snncompile.targets.onnx.driver import copy_driver
        from snncompile.targets.onnx.export import export_step

        path = directory / "model.onnx"
        onnx.save(export_step(graph), str(path))
        driver = copy_driver(directory)
        report["onnx"] = {"step_model": path.name, "arithmetic": "float64", "steps": graph.timesteps,
                          "driver": f"python {driver.name} {path.name} x.npy out.npz (numpy, onnx, onnxruntime; "
                                    "also snncompile.targets.onnx.driver.run_onnx)",
                          "reproduces": "snncompile.simulate(graph, x) of the folded, lowered graph"}
        return [path, driver]



ONNX = OnnxTarget()
