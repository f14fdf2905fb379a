"""The `sim` target: the compiled float IR, saved for the reference simulator (JSON + npz + text)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snncompile import ir
from snncompile.ir import serialize
from snncompile.passes import Pipeline, Rule
from snncompile.passes.pipelines import float_pipeline
from snncompile.targets.base import Capabilities, NoOptions, Target, supported_ops_rule
from snncompile.targets.loihi import ops as loihi_ops  # noqa: F401  (integer models read back simulate too)

SIM_CAPABILITIES = Capabilities(ops=frozenset(ir.OP_REGISTRY.values()), per_neuron_thresholds=True,
                                number_format="float64",
                                notes=("runs every IR op; the oracle the other targets are checked against",))


@dataclass(frozen=True)
class SimTarget(Target[NoOptions]):
    name = "sim"
    description = "float reference: the folded, lowered IR as graph.json + graph.npz, run by `snncompile simulate`"
    capabilities = SIM_CAPABILITIES

    def pipeline(self) -> Pipeline:
        return float_pipeline()

    def rules(self) -> tuple[Rule, ...]:
        return (supported_ops_rule(self.capabilities, self.name),)

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        json_path, npz_path = serialize.save(graph, directory)
        text_path = directory / "graph.txt"
        text_path.write_text(ir.print_graph(graph) + "\n")
        return [json_path, npz_path, text_path]


SIM = SimTarget()
