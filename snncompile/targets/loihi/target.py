"""The `loihi` target value: netx HDF5 + manifest for Lava/Loihi 2, compiled with its LoihiOptions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snncompile import ir
from snncompile.passes import Pass, Pipeline, Rule
from snncompile.passes.pipelines import float_passes
from snncompile.targets.base import Target
from snncompile.targets.loihi.caps import LOIHI_CAPABILITIES, LoihiOptions
from snncompile.targets.loihi.cuba import LoihiCurrentNeurons
from snncompile.targets.loihi.emit import emit_loihi
from snncompile.targets.loihi.fold_pool import LoihiFoldPool
from snncompile.targets.loihi.quantize import LoihiQuantize
from snncompile.targets.loihi.rules import loihi_rules
from snncompile.targets.loihi.schedule import LoihiSchedule, LowerMaxPool


def loihi_passes(options: LoihiOptions) -> tuple[Pass, ...]:
    """The Loihi passes that follow the float pipeline."""
    return (LoihiFoldPool(), LoihiCurrentNeurons(), LowerMaxPool(), LoihiSchedule(timesteps=options.timesteps),
            LoihiQuantize(options=options))


def loihi_report(graph: ir.Graph) -> dict[str, Any]:
    return {k: graph.metadata["loihi"][k] for k in ("latency", "period", "input")}


def calibrated(options: LoihiOptions, calibration: Any) -> LoihiOptions:
    """Options that calibrate on `calibration` unless the caller already gave calibration data."""
    if calibration is None or options.calibration is not None:
        return options
    return dataclasses.replace(options, calibration=calibration)


@dataclass(frozen=True)
class LoihiTarget(Target[LoihiOptions]):
    name = "loihi"
    description = "Loihi 2 via Lava: netx HDF5 (network.net) + skip synapses + manifest.json; bit-exact simulator"
    capabilities = LOIHI_CAPABILITIES
    options_type = LoihiOptions
    flag_prefix = "loihi"

    def pipeline(self) -> Pipeline:
        return Pipeline(float_passes() + loihi_passes(self.options))

    def rules(self) -> tuple[Rule, ...]:
        return loihi_rules()

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        report["loihi"] = loihi_report(graph)
        return emit_loihi(graph, directory)

    def for_verification(self, calibration: Any) -> LoihiTarget:
        return LoihiTarget(calibrated(self.options, calibration))
