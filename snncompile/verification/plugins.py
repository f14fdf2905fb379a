"""Per-target verification plans: how to compile for verification and which stages to run, in order."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from snncompile import ir
from snncompile.api import CompileResult
from snncompile.api import compile as compile_model
from snncompile.passes import Pass
from snncompile.passes.pipelines import float_passes
from snncompile.record import artifact_hashes
from snncompile.targets import Capabilities, Target, resolve_target
from snncompile.verification.data import VerifyData
from snncompile.verification.stages import GraphStage, Layer, Stage, TorchStage


@dataclass
class Compiled:
    """A compile and the graph after each of its passes (by pass name), for the intermediate stages."""

    result: CompileResult
    after: dict[str, ir.Graph] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of every file of the artifact this compile writes (report.json aside)."""

    @property
    def lowered(self) -> ir.Graph:
        """The float graph after the last target-independent pass (folded and lowered)."""
        names = {p.name for p in float_passes()}
        last = [r.name for r in self.result.records if r.name in names]
        return self.after[last[-1]] if last else self.result.traced

    @property
    def capabilities(self) -> Capabilities:
        value = self.result.target_value
        return (value if value is not None else resolve_target(self.result.target)).capabilities

    def graph_after(self, name: str) -> ir.Graph | None:
        return self.after.get(name)


def compile_for_verify(model: nn.Module | Any, target: str | Target[Any], data: VerifyData,
                       after_pass: Callable[[Pass, ir.Graph], None] | None = None,
                       options: Mapping[str, Any] | Any | None = None, calibrate: bool = True,
                       **kwargs: Any) -> Compiled:
    """Compile `model` for `target` (with `calibrate`, configured for this data: Loihi calibrates its input
    encoding and overflow caps on data.calibration, never the scored samples unless the user asked for it,
    unless the caller gave calibration data), keeping the graph after every pass. The artifact is written to a
    temporary directory and hashed, so that the report names exactly which artifact was checked."""
    after: dict[str, ir.Graph] = {}

    def keep(p: Pass, graph: ir.Graph) -> None:
        after[p.name] = graph
        if after_pass is not None:
            after_pass(p, graph)

    tgt = resolve_target(target, options)
    if calibrate:
        tgt = tgt.for_verification(data.calibration)
    with tempfile.TemporaryDirectory(prefix="snncompile-verify-") as tmp:
        result = compile_model(model, tgt, Path(tmp) / "artifact", after_pass=keep, check=False,  # verify is the check
                               **kwargs)
        hashes = artifact_hashes(Path(tmp) / "artifact")
    return Compiled(result, after, hashes)


def float_stages(compiled: Compiled, layers: list[Layer]) -> list[Stage]:
    """The stages every target has: the PyTorch model, the traced IR and the folded, lowered IR."""
    res = compiled.result
    stages: list[Stage] = []
    if isinstance(res.model, nn.Module):
        stages.append(TorchStage("pytorch", "the PyTorch model (forward hooks on the neuron modules)",
                                 model=res.model, layers=layers,
                                 layout=str(res.traced.metadata.get("input_layout", "tb"))))
    stages.append(GraphStage("traced", "traced float IR (float simulator)", graph=res.traced, layers=layers))
    stages.append(GraphStage("lowered", "folded and lowered float IR (float simulator)", graph=compiled.lowered,
                             layers=layers))
    return stages


def loihi_stages(compiled: Compiled, layers: list[Layer], scheduled: bool) -> list[Stage]:
    """Float stages, optionally the pipelined float graph, then the bit-exact Lava fixed_pt simulation."""
    from snncompile.targets.loihi import LOIHI_OPS

    stages = float_stages(compiled, layers)
    latency = int(compiled.result.graph.metadata["loihi"]["latency"])
    sched = compiled.graph_after("loihi-schedule")
    if scheduled and sched is not None:
        stages.append(GraphStage("scheduled", f"pipelined float IR: one step per hop, latency {latency}",
                                 graph=sched, layers=layers, latency=latency))
    stages.append(GraphStage("bit-exact", "fixed-point graph in the bit-exact Loihi simulator (Lava fixed_pt)",
                             exact=False, graph=compiled.result.graph, layers=layers, numerics=LOIHI_OPS,
                             latency=latency, count_events=True))
    return stages


def build_stages(compiled: Compiled, layers: list[Layer], *, scheduled: bool = False) -> list[Stage]:
    """The stages for the compile's target, in pipeline order (the last one is `compiled`)."""
    caps = compiled.capabilities
    stages = loihi_stages(compiled, layers, scheduled) if caps.arithmetic == "loihi-fixed" \
        else float_stages(compiled, layers)
    if caps.runtime == "onnxruntime":
        from snncompile.extras import require
        from snncompile.verification.onnx_stage import onnx_stage

        require("onnxruntime", feature=f"verifying a {compiled.result.target} artifact (its onnxruntime stage)")

        stages.append(onnx_stage(compiled.result.graph, layers, caps.arithmetic))
    return stages
