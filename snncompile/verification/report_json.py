"""The verification report as JSON: accuracy, per-layer rates, agreement, divergences, quantization, resources."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snncompile.fsmode import as_created

if TYPE_CHECKING:
    from snncompile.verification.core import VerifyReport
    from snncompile.verification.stages import Layer

REPORT_FORMAT = "snncompile-verify"
REPORT_VERSION = 1


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def layer_json(report: VerifyReport, layer: Layer) -> dict[str, Any]:
    """One layer: shape, neurons, and per stage its rate, silent and saturated neurons; per stage pair its
    agreement; the target's quantization error and overflow events."""
    stats = report.stats
    per_stage = {s: acts[layer.name] for s, acts in stats.activity.items() if layer.name in acts}
    entry: dict[str, Any] = {
        "name": layer.name, "origin": layer.origin, "shape": list(layer.shape), "neurons": layer.neurons,
        "levels": layer.levels,
        "rate": {s: a.rate for s, a in per_stage.items()},
        "silent": {s: a.silent for s, a in per_stage.items()},
        "saturated": {s: a.saturated for s, a in per_stage.items()},
        "agreement": {p.label: p.agreement(layer.name) for p in stats.pairs if layer.name in p.decisions},
        "mismatches": {p.label: p.mismatches[layer.name] for p in stats.pairs if layer.name in p.decisions},
    }
    missing = [s.name for s in stats.stages if layer.name not in stats.activity.get(s.name, {})]
    if missing:
        entry["not_recorded_in"] = missing
    quant = dict(report.quantization.get(layer.name, {}))
    if quant:
        final, float_stage = per_stage.get(report.final), per_stage.get("lowered")
        if final is not None and float_stage is not None:
            quant["rate_error"] = float(abs(final.rates - float_stage.rates).mean())
        quant.update(stats.events.get(layer.name, {}))
        entry["quantization"] = quant
    return entry


def report_to_json(report: VerifyReport) -> dict[str, Any]:
    """The whole report as a JSON-ready dict."""
    stats = report.stats
    reference, compiled = report.accuracy(report.reference), report.accuracy(report.final)
    result = report.compiled.result
    return _clean({
        "format": REPORT_FORMAT, "version": REPORT_VERSION, "ok": report.ok,
        "model": report.model, "target": report.target, "artifact": report.artifact,
        "data": {"name": report.data.name, "samples": stats.samples, "labelled": stats.labelled,
                 "timesteps": report.data.timesteps, "source": report.data.describe()},
        "stages": [{"name": s.name, "description": s.description, "exact": s.exact, "samples": n}
                   for s, n in [*((s, stats.samples) for s in stats.stages), *stats.extra]],
        "reference_stage": report.reference, "compiled_stage": report.final,
        "accuracy": {"reference": reference, "compiled": compiled,
                     "difference": None if reference is None or compiled is None else compiled - reference,
                     "tolerance": report.tolerance, "note": report.accuracy_note,
                     "stages": {s.name: report.accuracy(s.name) for s in stats.stages}},
        "readout_max_abs_error": {k: v for k, v in stats.logit_error.items() if k != report.reference},
        "pairs": [p.to_json(report.layers) for p in stats.pairs],
        "layers_compared": {s.name: len(report.layers) - len(stats.not_recorded.get(s.name, {}))
                            for s, _n in [*((s, 0) for s in stats.stages), *stats.extra]},
        "layers_total": len(report.layers),
        "layers": [layer_json(report, la) for la in report.layers],
        "worst_layer": _worst(report),
        "problems": [d.to_json() for d in report.problems],
        "diagnostics": [d.to_json() for d in result.diagnostics],
        "target_info": {k: v for k, v in result.graph.metadata.get("loihi", {}).items()
                        if k in ("latency", "period", "timesteps", "input")},
        "resources": report.resources or result.report.get("resources"),
        "execution": report.execution,
        "seconds": report.seconds,
    })


def _worst(report: VerifyReport) -> dict[str, Any] | None:
    found = report.worst_layer()
    if found is None:
        return None
    layer, pair, agreement = found
    return {"layer": layer.name, "origin": layer.origin, "pair": pair, "agreement": agreement}


def write_json(report: VerifyReport, path: Path) -> Path:
    """Write the report atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        as_created(tmp)
        with os.fdopen(fd, "w") as f:
            json.dump(report.to_json(), f, indent=1)
            f.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
