"""The `loihi` target value: netx HDF5 + manifest for Lava/Loihi 2, compiled with its LoihiOptions."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snncompile import ir
from snncompile.passes import Pass, Pipeline, Rule
from snncompile.passes.pipelines import float_passes
from snncompile.targets.base import Target
from snncompile.targets.loihi.caps import LOIHI_CAPABILITIES, LoihiOptions
from snncompile.targets.loihi.cuba import LoihiCurrentNeurons
from snncompile.targets.loihi.fold_pool import LoihiFoldPool
from snncompile.targets.loihi.quantize import LoihiQuantize
from snncompile.targets.loihi.rules import loihi_rules
from snncompile.targets.loihi.schedule import LoihiSchedule, LowerMaxPool


def loihi_passes(options: LoihiOptions) -> tuple[Pass, ...]:
    """The Loihi passes that follow the float pipeline."""
    return (LoihiFoldPool(), LoihiCurrentNeurons(), LowerMaxPool(), LoihiSchedule(timesteps=options.timesteps),
            LoihiQuantize(options=options))


def loihi_report(graph: ir.Graph) -> dict[str, Any]:
    """report.json's `loihi` section: latency, reset period, input encoding, and per population whether its
    quantization is exact (else the reasons)."""
    return {k: graph.metadata["loihi"][k] for k in ("latency", "period", "input", "exactness")
            if k in graph.metadata["loihi"]}


def add_plan_to_manifest(path: Path, resources: dict[str, Any]) -> None:
    """Record the resource plan (cores, chips, boards; per layer its cores, place and binding limit) in the
    manifest as `resources`."""
    manifest = json.loads(path.read_text())
    keys = ("cores_by_limit", "binding", "input_slices", "cores", "core_range", "chips")
    manifest["resources"] = {
        **{k: resources["totals"][k] for k in ("cores", "chips", "boards")},
        "objective": resources["plan"]["objective"],
        "layers": [{"name": r["name"], **{k: r[k] for k in keys}} for r in resources["layers"]],
        "limits": resources["plan"]["limits"]}
    path.write_text(json.dumps(manifest, indent=1) + "\n")


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
        return loihi_rules(self.options.max_chips)

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        from snncompile.targets.loihi.emit import MANIFEST, emit_loihi  # h5py only when writing an artifact

        report["loihi"] = loihi_report(graph)
        files = emit_loihi(graph, directory)
        if "resources" in report:
            add_plan_to_manifest(directory / MANIFEST, report["resources"])
        return files

    def for_verification(self, calibration: Any) -> LoihiTarget:
        return LoihiTarget(calibrated(self.options, calibration))


LOIHI = LoihiTarget()
"""The loihi target with default options (`LOIHI.with_options(calibration=x)` for others)."""
