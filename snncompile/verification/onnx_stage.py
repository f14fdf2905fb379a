"""Verification stage for the ONNX targets: the exported step model looped over time in onnxruntime."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import onnx
import torch

from snncompile import ir
from snncompile.ir.traits import Neuron
from snncompile.verification.stages import Layer, Stage, StageOutput, graph_members, scores


class OnnxStage(Stage):
    """Exports the compiled graph with `export` and runs it with snncompile.targets.onnx.driver.run_onnx; the
    populations' spikes come back per layer in zero-latency time (the step model has no pipeline)."""

    def __init__(self, graph: ir.Graph, layers: list[Layer], export: Callable[[ir.Graph], onnx.ModelProto],
                 description: str) -> None:
        super().__init__("onnxruntime", description, exact=True)
        self.graph, self.layers, self.export = graph, layers, export
        self._model: onnx.ModelProto | None = None

    def run(self, x: np.ndarray, dtype: torch.dtype) -> StageOutput:
        from snncompile.targets.onnx.driver import run_onnx

        if self._model is None:
            self._model = self.export(self.graph)
        out = run_onnx(self._model, np.asarray(x, dtype=np.float64))
        members = graph_members(self.graph, self.layers).items()
        spikes = {layer: cast(np.ndarray, sum(out[n] for n in names)) for layer, names in members  # names: never empty
                  if all(n in out for n in names)}
        logits = out.get(self.graph.outputs[0])
        pops = [n.name for n in self.graph.nodes if isinstance(n, Neuron) and n.name in out]
        counts = {n: (float(out[n].sum()), int(out[n].size)) for n in pops}
        over_time = self.graph.metadata.get("output_over_time")
        return StageOutput(spikes, None if logits is None else scores(logits, over_time), torch.float64,
                           {}, counts)


def onnx_stage(graph: ir.Graph, layers: list[Layer], arithmetic: str) -> OnnxStage:
    """The onnxruntime stage of an ONNX target: the float step model, or the integer one for a graph in
    Loihi's arithmetic."""
    if arithmetic == "loihi-fixed":
        from snncompile.targets.onnx.fixed_export import export_fixed_step

        return OnnxStage(graph, layers, export_fixed_step, "integer ONNX step model in onnxruntime (Lava fixed_pt "
                         "arithmetic in float64)")
    from snncompile.targets.onnx.export import export_step

    return OnnxStage(graph, layers, export_step, "float64 ONNX step model in onnxruntime")
