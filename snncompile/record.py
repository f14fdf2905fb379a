"""The compile record in report.json: model file hash and every compile option, enough to recompile identically."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

RECORD_VERSION = 1
REPORT_FILE = "report.json"


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_array(array: np.ndarray) -> str:
    a = np.ascontiguousarray(np.asarray(array, np.float64))
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def artifact_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file of an artifact directory except report.json (which holds timings)."""
    return {str(p.relative_to(directory)): sha256_file(p) for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != REPORT_FILE}


def options_to_json(options: Any) -> Any:
    """A target's options dataclass as JSON: calibration arrays become {"sha256", "shape"}, a calibration spec
    that is a file gets its hash too; frozensets become sorted lists; nested option dataclasses are dicts."""
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(options):
            value = getattr(options, f.name)
            if f.name == "calibration":
                out[f.name] = calibration_record(value)
            else:
                out[f.name] = options_to_json(value)
        return out
    if isinstance(options, (frozenset, set)):
        return sorted(options_to_json(v) for v in options)
    if isinstance(options, (list, tuple)):
        return [options_to_json(v) for v in options]
    if isinstance(options, np.ndarray):
        return {"array_sha256": sha256_array(options), "shape": list(options.shape)}
    return options


def calibration_record(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        path = Path(value)
        return {"spec": value, **({"sha256": sha256_file(path), "path": str(path.resolve())}
                                  if path.is_file() else {})}
    return {"array_sha256": sha256_array(np.asarray(value)), "shape": list(np.shape(value))}


def options_from_json(options_type: type[Any], data: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """The options dataclass back from its record, and what cannot be restored (calibration arrays)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    hints = {f.name: f for f in dataclasses.fields(options_type)}
    for name, value in data.items():
        if name not in hints:
            problems.append(f"unknown option {name!r}")
            continue
        if name == "calibration" and isinstance(value, dict):
            if "spec" not in value:
                problems.append("the artifact was calibrated on an in-memory array (sha256 "
                                f"{value.get('array_sha256', '?')[:12]}), which the record cannot reproduce")
                continue
            spec = cast(str, value.get("path", value["spec"]))  # both written as str by calibration_record
            if "sha256" in value and (not Path(spec).is_file() or sha256_file(spec) != value["sha256"]):
                problems.append(f"calibration file {spec} is missing or changed since the compile")
            value = spec
        default = getattr(options_type(), name)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value, sub = options_from_json(type(default), value)
            problems += sub
        elif isinstance(default, frozenset):
            value = frozenset(value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return options_type(**values), problems


def compile_record(model: Any, target: Any, input_shape: Any, timesteps: int | None, trust_pickle: bool,
                   factory: str | None, nir: Mapping[str, Any]) -> dict[str, Any]:
    """What `snncompile verify OUT_DIR` needs to recompile exactly this artifact."""
    path = Path(model) if isinstance(model, (str, os.PathLike)) else None
    return {
        "version": RECORD_VERSION,
        "model_path": None if path is None else str(path.resolve()),
        "model_sha256": None if path is None or not path.is_file() else sha256_file(path),
        "target": target.name,
        "options": options_to_json(target.options),
        "input_shape": None if input_shape is None else [int(s) for s in input_shape],
        "timesteps": timesteps,
        "trust_pickle": trust_pickle,
        "factory": factory,
        "nir": dict(nir),
    }
