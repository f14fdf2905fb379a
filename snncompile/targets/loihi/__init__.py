"""The `loihi` target: netx HDF5 + manifest for Lava/Loihi 2, with a bit-exact fixed-point simulator."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from snncompile import ir
from snncompile.passes import Pipeline, Rule
from snncompile.passes.pipelines import float_passes
from snncompile.targets.base import TARGETS, Target, register_target
from snncompile.targets.loihi.caps import LOIHI_CAPABILITIES, LoihiOptions
from snncompile.targets.loihi.cuba import LoihiCurrentNeurons
from snncompile.targets.loihi.emit import emit_loihi
from snncompile.targets.loihi.numerics import LOIHI_OPS, simulate_loihi
from snncompile.targets.loihi.quantize import LoihiQuantize
from snncompile.targets.loihi.rules import loihi_rules
from snncompile.targets.loihi.schedule import LoihiSchedule, LowerMaxPool


class LoihiTarget(Target):
    @property
    def settings(self) -> LoihiOptions:
        return self.options.get("settings", LoihiOptions())

    def loihi_passes(self) -> tuple[Any, ...]:
        """The target's own passes, after the float pipeline."""
        opts = self.settings
        return (LoihiCurrentNeurons(), LowerMaxPool(), LoihiSchedule(timesteps=opts.timesteps),
                LoihiQuantize(options=opts))

    def pipeline(self) -> Pipeline:
        return Pipeline(float_passes() + self.loihi_passes())

    def rules(self) -> tuple[Rule, ...]:
        return loihi_rules()

    def emit(self, graph: ir.Graph, directory: Path, report: dict[str, Any]) -> list[Path]:
        report["loihi"] = {k: graph.metadata["loihi"][k] for k in ("latency", "period", "input")}
        return emit_loihi(graph, directory)

    def configured(self, **options: Any) -> LoihiTarget:
        """A copy with LoihiOptions fields changed (input_bits, overflow, calibration, allow, ...)."""
        if "allow" in options:
            options["allow"] = frozenset(options["allow"])
        settings = dataclasses.replace(self.settings, **options)
        return LoihiTarget(self.name, self.description, self.capabilities, {"settings": settings})


LOIHI = register_target(LoihiTarget(
    "loihi", "Loihi 2 via Lava: netx HDF5 (network.net) + skip synapses + manifest.json; bit-exact simulator",
    LOIHI_CAPABILITIES))


@contextmanager
def loihi_options(**options: Any) -> Iterator[LoihiTarget]:
    """Within the block, target "loihi" compiles with these LoihiOptions (e.g. calibration data), on top of
    those of an enclosing block."""
    previous = TARGETS["loihi"]
    base = previous if isinstance(previous, LoihiTarget) else LOIHI
    target = register_target(base.configured(**options))  # nested blocks combine their options
    try:
        yield target
    finally:
        TARGETS["loihi"] = previous


__all__ = ["LOIHI", "LOIHI_OPS", "LoihiOptions", "LoihiTarget", "loihi_options", "simulate_loihi"]
