"""`snncompile simulate` outputs: one naming scheme for every target (traced IR node names, the model's T steps)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snncompile import ir
from snncompile.errors import error

FORMAT = "snncompile-simulate"
VERSION = 1
PLAN_KEY = "simulate"
"""The key of report.json holding the plan (written at compile time by output_plan)."""


def output_plan(traced: ir.Graph, graph: ir.Graph) -> dict[str, Any]:
    """What `simulate` writes for this compile: every neuron layer of the traced model (its IR node name, module
    path, shape, and the compiled populations whose spikes sum to it: itself, or its lowered MLF levels) and the
    compiled graph's outputs. Populations that are not layers of the model (Loihi's max-pool OR populations) are
    left out, so every target writes the same keys."""
    from snncompile.verification.stages import graph_members, neuron_layers

    layers = neuron_layers(traced)
    members = graph_members(graph, layers)
    return {"layers": [{"name": la.name, "origin": la.origin, "shape": list(la.shape),
                        "populations": list(members[la.name])} for la in layers if la.name in members],
            "outputs": list(graph.outputs)}


def read_plan(artifact: Path) -> dict[str, Any]:
    """The plan recorded in the artifact's report.json (SNC920 when it has none: compiled by an older version)."""
    try:
        report = json.loads((artifact / "report.json").read_text())
    except (OSError, ValueError):
        report = {}
    plan = report.get(PLAN_KEY) if isinstance(report, dict) else None
    if not isinstance(plan, dict) or "layers" not in plan or "outputs" not in plan:
        raise error("SNC920", f"{artifact}/report.json does not say how to name the simulated outputs",
                    hint="the artifact predates the common naming of `simulate` outputs: compile it again")
    return {**plan, "target": report.get("target")}


def name_outputs(plan: Mapping[str, Any], populations: Mapping[str, np.ndarray], outputs: Sequence[np.ndarray],
                 steps: int, delays: Mapping[str, int] | None = None, latency: int = 0
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays keyed by the plan's names and their metadata. populations: every compiled population's spikes
    [T + delay, B, *shape] (a flat population is reshaped to its layer's shape); delays: the pipeline depth of
    each population (0 when absent): its steps [delay, delay + T) are the model's steps 0 .. T-1. A layer is
    the sum of its populations over those T steps. outputs: the artifact's outputs in the order of the plan's."""
    delays = delays or {}
    values: dict[str, np.ndarray] = {}
    layers: dict[str, Any] = {}
    for la in plan["layers"]:
        total: np.ndarray | None = None
        for p in la["populations"]:
            spikes = np.asarray(populations[p])
            d = int(delays.get(p, 0))
            part = spikes[d:d + steps].reshape(steps, spikes.shape[1], *la["shape"])
            total = part if total is None else total + part
        if total is None:
            continue
        values[la["name"]] = total
        removed = {p: int(delays.get(p, 0)) for p in la["populations"]}
        layers[la["name"]] = {"origin": la["origin"], "shape": list(total.shape), "populations": la["populations"],
                              "delay_removed": removed}
    outs: dict[str, Any] = {}
    for name, value in zip(plan["outputs"], outputs, strict=True):
        if name not in values:
            values[name] = np.asarray(value)
        outs[name] = {"shape": list(values[name].shape)}
    meta = {"format": FORMAT, "version": VERSION, "target": plan.get("target"), "timesteps": steps,
            "pipeline_latency": latency,
            "naming": "keys are the traced model's IR node names (origin: the module path); spikes are [T, B, "
                      "*shape] on the model's timesteps (per-population pipeline delay removed, see "
                      "delay_removed); readouts as the model returns them",
            "layers": layers, "outputs": outs}
    return values, meta


def sidecar_path(output: Path) -> Path:
    """The metadata next to an output .npz: out.npz -> out.json (out -> out.json, out.json -> out.json.json)."""
    if output.suffix in ("", ".json"):
        return output.with_name(output.name + ".json")
    return output.with_suffix(".json")


def write_outputs(output: Path, values: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """The .npz and its JSON sidecar, each written to a temporary sibling and renamed into place."""
    side = sidecar_path(output)
    tmp, tmp_side = output.with_name(f".{output.name}.tmp.npz"), side.with_name(f".{side.name}.tmp")
    try:
        np.savez_compressed(tmp, **values)  # type: ignore[arg-type]  # numpy stub: **kwds vs allow_pickle
        tmp_side.write_text(json.dumps(meta, indent=1) + "\n")
        tmp.replace(output)
        tmp_side.replace(side)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_side.unlink(missing_ok=True)
    return side
